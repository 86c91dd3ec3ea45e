"""Row fingerprints: which rows a model was trained on, without storing the rows.

A training run logs the 64-bit hash of every training row (encoded features + target, as the
model sees them) as ``split/train_rows.npy``. The gate hashes a challenger's holdout the same way
with the *champion's* encoder and drops the rows the champion trained on, so the comparison runs
on rows neither model has seen (a refreshed dataset or another split seed would otherwise let the
champion be judged on its own training rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ARTIFACT_DIR = "split"
ARTIFACT_FILE = "train_rows.npy"


def row_fingerprints(x: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.uint64]:
    """One hash per row of the encoded matrix ``x`` and its target ``y`` (NaN-stable)."""
    frame = pd.DataFrame(np.asarray(x, dtype=np.float64))
    frame["_target"] = np.asarray(y, dtype=np.int64)
    return np.asarray(pd.util.hash_pandas_object(frame, index=False), dtype=np.uint64)
