"""Discrimination and calibration metrics of a probability-of-default model.

AUC, Gini (2*AUC-1), KS (max distance between the score distributions of goods and bads),
Brier score, log loss, expected calibration error (equal-frequency bins) and PR AUC (average
precision). All take ``y`` with 1 = default and ``p`` = predicted probability of default.

Also the population stability index (:func:`psi`, :func:`psi_from_counts`), the one PSI of the
platform: the gate's stability check and drift monitoring both use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from optbinning.binning.metrics import jeffrey  # type: ignore[import-untyped,unused-ignore]
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


# --- population stability index: the one implementation (gate stability check and drift) -----
PSI_BINS = 10
#: Share given to an empty bin before renormalising, so that PSI stays finite.
PSI_EMPTY_BIN_SHARE = 1e-4


def quantile_edges(reference: ArrayLike, n_bins: int = PSI_BINS) -> NDArray[np.float64]:
    """Inner edges of (at most) ``n_bins`` quantile bins of the reference (duplicates merged)."""
    values = np.asarray(reference, dtype=float)
    return np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1))[1:-1])


def bin_counts(values: ArrayLike, edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts per bin ``(-inf, e1), [e1, e2), ..., [ek, inf)`` (``len(edges) + 1`` bins)."""
    idx = np.searchsorted(edges, np.asarray(values, dtype=float), side="right")
    return np.bincount(idx, minlength=len(edges) + 1)


def psi_from_counts(expected_counts: ArrayLike, actual_counts: ArrayLike) -> float:
    """PSI of two count vectors over the same bins: ``sum((a - e) * ln(a / e))`` of the shares.

    Empty bins (and an empty side): each share is floored at :data:`PSI_EMPTY_BIN_SHARE` and
    the shares renormalised to sum to one, so PSI stays finite and remains a divergence of two
    distributions; a bin empty on both sides then contributes nothing. The sum is the Jeffrey
    divergence as computed by optbinning (``binning.metrics.jeffrey``).
    """
    e = np.asarray(expected_counts, dtype=float)
    a = np.asarray(actual_counts, dtype=float)
    e_share = np.maximum(e / max(e.sum(), 1.0), PSI_EMPTY_BIN_SHARE)
    a_share = np.maximum(a / max(a.sum(), 1.0), PSI_EMPTY_BIN_SHARE)
    return float(jeffrey(a_share / a_share.sum(), e_share / e_share.sum(), return_sum=True))


def psi(expected: ArrayLike, actual: ArrayLike, n_bins: int = PSI_BINS) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins of expected).

    Numeric values without missing ones; drift monitoring adds a missing-value bin and
    categorical bins around the same :func:`psi_from_counts`.
    """
    edges = quantile_edges(expected, n_bins)
    return psi_from_counts(bin_counts(expected, edges), bin_counts(actual, edges))
