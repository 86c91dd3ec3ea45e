"""The holdout split: stratified at random, or out of time when the schema declares a date.

With ``date_column`` in the schema the latest ``test_size`` share of applications (by that date)
is the holdout: the gate then judges the model on the future it will meet, not on rows mixed in
time with its training data. Rows whose date cannot be parsed stay in the training part.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from credit_scoring.data.schema import FeatureSchema


def holdout_split(
    frame: pd.DataFrame,
    y: NDArray[np.int64],
    schema: FeatureSchema,
    test_size: float,
    seed: int,
) -> tuple[NDArray[np.intp], NDArray[np.intp], str]:
    """Train and test row positions of ``frame`` and a description of the split."""
    idx = np.arange(len(y))
    column = schema.date_column
    if column and column in frame.columns:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # format inference chatter
            dates = pd.to_datetime(frame[column].reset_index(drop=True), errors="coerce")
        order = np.argsort(dates.fillna(pd.Timestamp.min).to_numpy(), kind="stable")
        n_test = max(1, round(test_size * len(y)))
        test_idx, train_idx = np.sort(order[-n_test:]), np.sort(order[:-n_test])
        y_test = y[test_idx]
        if 0 < y_test.sum() < len(y_test):
            start, end = dates.iloc[test_idx].min(), dates.iloc[test_idx].max()
            return train_idx, test_idx, f"out of time ({column} {start:%Y-%m-%d}..{end:%Y-%m-%d})"
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    return np.asarray(train_idx), np.asarray(test_idx), "stratified random"
