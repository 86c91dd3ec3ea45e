"""The join of logged decisions with their realised outcomes: what backtesting reads.

:func:`decisions_with_outcomes` is the one function that joins the decisions (the decision
ledger, read by :mod:`credit_scoring.monitoring.prediction_log`) with the ``outcomes`` table
(:mod:`credit_scoring.outcomes.store`) on the decision id (``decision_id``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from credit_scoring.config import Settings
from credit_scoring.monitoring.prediction_log import Source, read_prediction_log
from credit_scoring.outcomes.store import OutcomeStore


def decisions_with_outcomes(
    settings: Settings,
    start: datetime,
    end: datetime,
    version: str | None = None,
    source: Source = "auto",
) -> pd.DataFrame:
    """Decisions logged in ``[start, end)`` (of ``version`` when given) with their outcome:
    the log's columns plus ``defaulted`` (1/0, NaN while unknown) and ``observed_at``."""
    frame = read_prediction_log(settings, start, end, source=source)
    if version is not None:
        frame = frame[frame["model_version"] == str(version)]
    frame = frame.drop_duplicates("decision_id", keep="last").reset_index(drop=True)
    known = OutcomeStore(settings).fetch(frame["decision_id"].tolist()) if len(frame) else {}
    ids = frame["decision_id"].tolist()
    frame["defaulted"] = np.array(
        [known[i].defaulted if i in known else np.nan for i in ids], dtype=np.float64
    )
    frame["observed_at"] = [known[i].observed_at if i in known else None for i in ids]
    return frame
