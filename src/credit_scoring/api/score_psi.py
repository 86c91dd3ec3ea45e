"""Live score drift of the served version: ``credit_scoring_score_psi{model_version}``.

Each served version carries its **reference**: the ``score`` column of its training run's drift
reference (``reference/reference.parquet``, the sample drift monitoring compares windows with),
logged alone as ``reference/scores.npy`` (the serving image has no Parquet reader; runs from
before it are read from the Parquet file where pyarrow is installed), read once when the version
is loaded and cached beside it in the model cache. The API keeps the
most recent ``CREDIT_SCORING_API_SCORE_PSI_WINDOW`` scores it answered with that version in a
ring buffer (:class:`ScoreWindow`; per request one list store, no numpy or pandas) and computes
PSI only when Prometheus scrapes (:class:`ScorePsiCollector`), with the platform's one PSI
(:mod:`credit_scoring.evaluation.psi`: reference quantile bins, counts, ``psi_from_counts``) and
the number of bins drift monitoring uses for a window of that size (``window_bins``): on the same
scores the gauge equals the ``score_psi`` of ``credit-scoring monitor``. The reference's bin
edges and counts are computed once per number of bins (measured on a busy 2-core machine, a
1,000-score window against a 10,000-row reference: 0.4 ms per scrape, 3.4 ms re-sorting the
reference every time). Per request, ``add`` costs well under a microsecond.

Exported per process (each pod has its own window), for the served version only:

* ``credit_scoring_score_psi{model_version}``: absent until the window holds
  ``CREDIT_SCORING_API_SCORE_PSI_MIN_SCORES`` scores, and absent for a version without a
  reference (a run logged without a drift reference, or only with the Parquet file in the
  serving image; the load log says so);
* ``credit_scoring_score_psi_window_scores{model_version}``: scores in the window now, so an
  absent PSI can be told apart from a missing reference.

A new version starts with an empty window; the shadow challenger has none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from credit_scoring.evaluation.psi import bin_counts, psi_from_counts, quantile_edges, window_bins

logger = logging.getLogger(__name__)

#: The reference scores in a cached model version's directory.
REFERENCE_SCORES_FILE = "score_reference.npy"
#: The column of the drift reference holding the score points.
SCORE_COLUMN = "score"


class ScoreWindow:
    """The last ``size`` scores of one version against its reference scores."""

    __slots__ = ("_bins", "_next", "_scores", "min_scores", "reference", "seen", "size")

    def __init__(self, reference: ArrayLike, size: int, min_scores: int) -> None:
        ref = np.asarray(reference, dtype=float)
        ref = ref[np.isfinite(ref)]
        if ref.size == 0:
            raise ValueError("the score reference holds no finite score")
        if not 1 <= min_scores <= size:
            raise ValueError(f"min_scores must be from 1 to the window size {size}: {min_scores}")
        self.reference: NDArray[np.float64] = ref
        self.size = size
        self.min_scores = min_scores
        #: Scores observed since the version was loaded (the window holds the last ``size``).
        self.seen = 0
        self._scores: list[float] = [0.0] * size
        self._next = 0
        #: Reference bin edges and counts by number of bins (the reference never changes).
        self._bins: dict[int, tuple[NDArray[np.float64], NDArray[np.int64]]] = {}

    def add(self, score: float) -> None:
        """Record one answered score (the hot path: a list store and two integer updates)."""
        i = self._next
        self._scores[i] = score
        self._next = 0 if i + 1 == self.size else i + 1
        self.seen += 1

    def scores(self) -> NDArray[np.float64]:
        """The scores in the window (order not kept: PSI does not need it)."""
        n = min(self.seen, self.size)
        return np.asarray(self._scores[:n], dtype=float)

    def psi(self) -> float | None:
        """PSI of the window against the reference; None below ``min_scores``."""
        window = self.scores()
        if window.size < self.min_scores:
            return None
        n_bins = window_bins(window.size)
        binned = self._bins.get(n_bins)
        if binned is None:
            edges = quantile_edges(self.reference, n_bins)
            binned = self._bins[n_bins] = (edges, bin_counts(self.reference, edges))
        edges, reference_counts = binned
        return psi_from_counts(reference_counts, bin_counts(window, edges))


def reference_scores(parquet: Path) -> NDArray[np.float64] | None:
    """The ``score`` column of a drift reference file (None when it has no such column)."""
    import pyarrow.parquet as pq  # deferred: only at model load

    if SCORE_COLUMN not in pq.read_schema(parquet).names:
        return None
    column = pq.read_table(parquet, columns=[SCORE_COLUMN]).column(SCORE_COLUMN)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def save_reference(directory: Path, scores: NDArray[np.float64]) -> None:
    np.save(directory / REFERENCE_SCORES_FILE, scores, allow_pickle=False)


def load_reference_file(path: Path) -> NDArray[np.float64]:
    """Scores saved with :func:`numpy.save` (no pickles)."""
    return np.asarray(np.load(path, allow_pickle=False), dtype=float).ravel()


def load_reference(directory: Path) -> NDArray[np.float64] | None:
    """The reference scores cached in a version's directory, or None."""
    path = directory / REFERENCE_SCORES_FILE
    if not path.is_file():
        return None
    try:
        return load_reference_file(path)
    except (OSError, ValueError) as exc:
        logger.warning("cached score reference %s is unusable: %s", path, exc)
        return None


class ScorePsiCollector(Collector):
    """Exports the served version's window (``current`` returns it and its version, or None)."""

    def __init__(self, current: Callable[[], tuple[str, ScoreWindow | None] | None]) -> None:
        self.current = current

    def collect(self) -> Iterator[Metric]:
        psi_family = GaugeMetricFamily(
            "credit_scoring_score_psi",
            "PSI of the served version's recent scores against its training reference (absent "
            "without a reference or below the minimum window).",
            labels=["model_version"],
        )
        count_family = GaugeMetricFamily(
            "credit_scoring_score_psi_window_scores",
            "Scores in the served version's PSI window (present when it has a reference).",
            labels=["model_version"],
        )
        served = self.current()
        if served is not None and served[1] is not None:
            version, window = served[0], served[1]
            count_family.add_metric([version], float(min(window.seen, window.size)))
            value = window.psi()
            if value is not None:
                psi_family.add_metric([version], value)
        yield psi_family
        yield count_family
