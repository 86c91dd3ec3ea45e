"""Discrimination and calibration metrics of a probability-of-default model.

AUC, Gini (2*AUC-1), KS (max distance between the score distributions of goods and bads),
Brier score, log loss, expected calibration error (equal-frequency bins) and PR AUC (average
precision). All take ``y`` with 1 = default and ``p`` = predicted probability of default.

The population stability index lives in :mod:`credit_scoring.evaluation.psi`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

METRICS = ("auc", "gini", "ks", "brier", "log_loss", "ece", "pr_auc")


def ks_statistic(y: ArrayLike, p: ArrayLike) -> float:
    """Kolmogorov-Smirnov distance between the PD distributions of bads and goods."""
    y_arr, p_arr = np.asarray(y), np.asarray(p, dtype=float)
    return float(ks_2samp(p_arr[y_arr == 1], p_arr[y_arr == 0]).statistic)


def expected_calibration_error(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Weighted mean |observed default rate - mean PD| over equal-frequency bins."""
    y_arr, p_arr = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p_arr, kind="stable")
    ece = 0.0
    for chunk in np.array_split(order, min(n_bins, len(order))):
        if len(chunk):
            ece += len(chunk) * abs(y_arr[chunk].mean() - p_arr[chunk].mean())
    return float(ece / len(p_arr))


def classification_metrics(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """All metrics of :data:`METRICS` as a dict."""
    y_arr, p_arr = np.asarray(y), np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    auc = float(roc_auc_score(y_arr, p_arr))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y_arr, p_arr),
        "brier": float(brier_score_loss(y_arr, p_arr)),
        "log_loss": float(log_loss(y_arr, p_arr, labels=[0, 1])),
        "ece": expected_calibration_error(y_arr, p_arr),
        "pr_auc": float(average_precision_score(y_arr, p_arr)),
    }
