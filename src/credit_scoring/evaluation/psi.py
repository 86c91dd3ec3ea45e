"""The population stability index (PSI), the one implementation of the platform.

The gate's stability check, drift monitoring, the challenger comparison and the scoring API's
live ``credit_scoring_score_psi`` gauge all use it:

* bins are reference quantiles (:func:`quantile_edges`, at most :data:`PSI_BINS`, ties merged),
  closed on the left (:func:`bin_counts`); :func:`window_bins` shrinks their number for small
  windows so every bin can hold about :data:`MIN_ROWS_PER_BIN` rows;
* :func:`psi_from_counts` floors empty bins at :data:`PSI_EMPTY_BIN_SHARE` and renormalises, then
  sums ``(a - e) * ln(a / e)`` over the shares: the Jeffrey divergence exactly as optbinning's
  ``binning.metrics.jeffrey`` computes it (tests/unit/core/test_psi.py checks both agree).

Numpy only, on purpose: the scoring API computes PSI at scrape time, and importing optbinning
(for its one-line ``jeffrey``) would add seconds to the API's cold start.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

PSI_BINS = 10
#: Share given to an empty bin before renormalising, so that PSI stays finite.
PSI_EMPTY_BIN_SHARE = 1e-4
#: Windows smaller than ``PSI_BINS * MIN_ROWS_PER_BIN`` get fewer bins (:func:`window_bins`).
MIN_ROWS_PER_BIN = 20


def window_bins(n_current: int) -> int:
    """Bins for a window of ``n_current`` values: ``PSI_BINS``, fewer (at least 2) when small."""
    return int(min(PSI_BINS, max(2, n_current // MIN_ROWS_PER_BIN)))


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
    distributions; a bin empty on both sides then contributes nothing.
    """
    e = np.asarray(expected_counts, dtype=float)
    a = np.asarray(actual_counts, dtype=float)
    e_share = np.maximum(e / max(e.sum(), 1.0), PSI_EMPTY_BIN_SHARE)
    a_share = np.maximum(a / max(a.sum(), 1.0), PSI_EMPTY_BIN_SHARE)
    e_share /= e_share.sum()
    a_share /= a_share.sum()
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi(expected: ArrayLike, actual: ArrayLike, n_bins: int = PSI_BINS) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins of expected).

    Numeric values without missing ones; drift monitoring adds a missing-value bin and
    categorical bins around the same :func:`psi_from_counts`.
    """
    edges = quantile_edges(expected, n_bins)
    return psi_from_counts(bin_counts(expected, edges), bin_counts(actual, edges))
