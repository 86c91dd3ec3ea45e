"""Drift statistics of a window of predictions against the training reference.

Statistics (all against the reference sample):

* PSI of every feature and of the score, bands ``< 0.10`` stable, ``0.10-0.25`` moderate,
  ``>= 0.25`` significant. Numeric features use reference quantile bins (at most 10, fewer on
  small windows so every bin can hold about 20 rows:
  :func:`~credit_scoring.evaluation.psi.window_bins`, also the binning of the API's live
  ``credit_scoring_score_psi`` gauge), categorical ones their categories plus one bin for
  unseen values; missing values get their own bin when present. PSI itself is the
  platform's one implementation, :func:`credit_scoring.evaluation.psi.psi_from_counts` (the
  gate's stability check uses it too), including its handling of empty bins.
* Share of rows with a category the schema and reference do not know, per feature.
* Missing rate per feature in reference and window.
* Decision rates (approve/review/decline) and a chi-square test of their change (scipy).

Drift is declared when score or any feature PSI reaches the PSI threshold, an unseen share
exceeds its threshold, a missing rate rises by more than 0.10, or a decision rate moves by more
than its threshold with p < 0.01 (:class:`DriftThresholds`, from the ``monitor_*`` settings). A
window with fewer than ``min_rows`` predictions is reported as ``insufficient_data`` and never
as drift.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency  # type: ignore[import-untyped,unused-ignore]

from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.evaluation.psi import (
    PSI_BINS,
    bin_counts,
    psi_from_counts,
    quantile_edges,
    window_bins,
)
from credit_scoring.monitoring.prediction_log import as_utc
from credit_scoring.monitoring.report import (
    PSI_MODERATE,
    BinShare,
    DecisionDrift,
    DriftReport,
    FeatureDrift,
    Status,
    psi_band,
)

MISSING_RATE_ALERT = 0.10
DECISION_P_VALUE = 0.01
MAX_BINS = PSI_BINS
_MISSING = "(missing)"
_UNSEEN = "(unseen)"


@dataclass(frozen=True)
class DriftThresholds:
    """When a window counts as drift (the ``monitor_*`` settings)."""

    psi: float
    min_rows: int
    unseen_share: float
    decision_rate_change: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftThresholds:
        return cls(
            psi=settings.monitor_psi_threshold,
            min_rows=settings.monitor_min_rows,
            unseen_share=settings.monitor_max_unseen_share,
            decision_rate_change=settings.monitor_max_decision_rate_change,
        )


def _shares(labels: list[str], ref: np.ndarray, cur: np.ndarray) -> list[BinShare]:
    rt, ct = max(ref.sum(), 1), max(cur.sum(), 1)
    return [
        BinShare(bin=lab, reference=float(r / rt), current=float(c / ct))
        for lab, r, c in zip(labels, ref, cur, strict=True)
    ]


def numeric_psi(
    reference: pd.Series, current: pd.Series, n_bins: int = MAX_BINS
) -> tuple[float, list[BinShare]]:
    """PSI over reference quantile bins (plus a missing bin when any value is missing)."""
    ref = pd.to_numeric(reference, errors="coerce")
    cur = pd.to_numeric(current, errors="coerce")
    ref_values = ref.dropna().to_numpy(dtype=float)
    if ref_values.size == 0:
        raise ValueError(f"reference column {reference.name!r} has no numeric values")
    edges = quantile_edges(ref_values, n_bins)
    labels = _edge_labels(edges)
    ref_counts = bin_counts(ref_values, edges)
    cur_counts = bin_counts(cur.dropna().to_numpy(dtype=float), edges)
    ref_missing, cur_missing = int(ref.isna().sum()), int(cur.isna().sum())
    if ref_missing or cur_missing:
        labels.append(_MISSING)
        ref_counts = np.append(ref_counts, ref_missing)
        cur_counts = np.append(cur_counts, cur_missing)
    return psi_from_counts(ref_counts, cur_counts), _shares(labels, ref_counts, cur_counts)


def _edge_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    bounds = [-np.inf, *edges.tolist(), np.inf]
    return [f"[{lo:.4g}, {hi:.4g})" for lo, hi in itertools.pairwise(bounds)]


def categorical_psi(
    reference: pd.Series, current: pd.Series, known: list[str]
) -> tuple[float, list[BinShare], float, list[str]]:
    """PSI over categories; returns (psi, bins, unseen share of the window, unseen values)."""
    cats = list(dict.fromkeys([*known, *reference.dropna().astype(str).unique().tolist()]))
    ref = reference.dropna().astype(str)
    cur = current.dropna().astype(str)
    unseen_mask = ~cur.isin(cats)
    unseen_values = sorted(cur[unseen_mask].unique().tolist())
    ref_counts = ref.value_counts().reindex(cats, fill_value=0).to_numpy()
    cur_counts = cur[~unseen_mask].value_counts().reindex(cats, fill_value=0).to_numpy()
    labels = list(cats)
    ref_counts = np.append(ref_counts, 0)
    cur_counts = np.append(cur_counts, int(unseen_mask.sum()))
    labels.append(_UNSEEN)
    ref_missing, cur_missing = int(reference.isna().sum()), int(current.isna().sum())
    if ref_missing or cur_missing:
        labels.append(_MISSING)
        ref_counts = np.append(ref_counts, ref_missing)
        cur_counts = np.append(cur_counts, cur_missing)
    unseen_share = float(unseen_mask.sum() / len(current)) if len(current) else 0.0
    return (
        psi_from_counts(ref_counts, cur_counts),
        _shares(labels, ref_counts, cur_counts),
        unseen_share,
        unseen_values,
    )


def decision_drift(reference: pd.Series, current: pd.Series) -> DecisionDrift:
    """Decision rates and a chi-square test of reference vs window counts."""
    ref = reference.dropna().astype(str)
    cur = current.dropna().astype(str)
    cats = sorted(set(ref.unique()) | set(cur.unique()))
    ref_counts = ref.value_counts().reindex(cats, fill_value=0)
    cur_counts = cur.value_counts().reindex(cats, fill_value=0)
    ref_rates = (ref_counts / max(len(ref), 1)).round(6)
    cur_rates = (cur_counts / max(len(cur), 1)).round(6)
    change = float((cur_rates - ref_rates).abs().max()) if cats else 0.0
    p_value: float | None = None
    table = np.vstack([ref_counts.to_numpy(), cur_counts.to_numpy()])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] >= 2 and table.sum(axis=1).min() > 0:
        p_value = float(chi2_contingency(table).pvalue)
    return DecisionDrift(
        reference={str(k): float(v) for k, v in ref_rates.items()},
        current={str(k): float(v) for k, v in cur_rates.items()},
        max_abs_change=change,
        p_value=p_value,
    )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: FeatureSchema,
    limits: DriftThresholds,
    *,
    window_start: datetime,
    window_end: datetime,
    model_name: str = "",
) -> DriftReport:
    """Compare a window of predictions with the training reference (see the module docstring)."""
    thresholds_shown = {
        "psi": limits.psi,
        "min_rows": float(limits.min_rows),
        "unseen_share": limits.unseen_share,
        "decision_rate_change": limits.decision_rate_change,
        "missing_rate_increase": MISSING_RATE_ALERT,
    }
    base: dict[str, Any] = {
        "model_name": model_name,
        "window_start": as_utc(window_start),
        "window_end": as_utc(window_end),
        "n_reference": len(reference),
        "n_current": len(current),
        "thresholds": thresholds_shown,
    }
    if len(reference) == 0:
        raise ValueError("the training reference is empty")
    if len(current) < limits.min_rows:
        return DriftReport(
            **base,
            status="insufficient_data",
            drift_detected=False,
            message=(
                f"insufficient data: {len(current)} prediction(s) in the window, at least "
                f"{limits.min_rows} are needed to judge drift"
            ),
        )
    n_bins = window_bins(len(current))
    reasons: list[str] = []
    warnings: list[str] = []
    features: list[FeatureDrift] = []
    for feat in schema.features:
        ref_col = reference[feat.name] if feat.name in reference else pd.Series(dtype=object)
        if feat.name in current:
            cur_col = current[feat.name]
        else:
            cur_col = pd.Series([None] * len(current), dtype=object, name=feat.name)
        if feat.type == "numeric":
            psi, bins = numeric_psi(ref_col.rename(feat.name), cur_col, n_bins)
            unseen: float | None = None
            unseen_values: list[str] = []
        else:
            psi, bins, unseen, unseen_values = categorical_psi(
                ref_col, cur_col, feat.categories or []
            )
        miss_ref = float(ref_col.isna().mean()) if len(ref_col) else 0.0
        miss_cur = float(cur_col.isna().mean())
        fd = FeatureDrift(
            name=feat.name,
            type=feat.type,
            psi=round(psi, 6),
            band=psi_band(psi),
            missing_rate_reference=miss_ref,
            missing_rate_current=miss_cur,
            unseen_share=unseen,
            unseen_values=unseen_values[:20],
            bins=bins,
        )
        features.append(fd)
        if psi >= limits.psi:
            reasons.append(f"feature {feat.name!r}: PSI {psi:.3f} >= {limits.psi}")
        elif psi >= PSI_MODERATE:
            warnings.append(f"feature {feat.name!r}: PSI {psi:.3f} (moderate)")
        if unseen is not None and unseen > limits.unseen_share:
            reasons.append(
                f"feature {feat.name!r}: {unseen:.1%} unseen categories "
                f"(> {limits.unseen_share:.1%}), e.g. {unseen_values[:3]}"
            )
        if miss_cur - miss_ref > MISSING_RATE_ALERT:
            reasons.append(
                f"feature {feat.name!r}: missing rate {miss_cur:.1%} vs {miss_ref:.1%} in training"
            )

    score_psi: float | None = None
    score_bins: list[BinShare] = []
    if "score" in reference and "score" in current:
        score_psi, score_bins = numeric_psi(reference["score"], current["score"], n_bins)
        if score_psi >= limits.psi:
            reasons.append(f"score: PSI {score_psi:.3f} >= {limits.psi}")
        elif score_psi >= PSI_MODERATE:
            warnings.append(f"score: PSI {score_psi:.3f} (moderate)")

    decisions: DecisionDrift | None = None
    if "decision" in reference and "decision" in current:
        decisions = decision_drift(reference["decision"], current["decision"])
        if (
            decisions.max_abs_change > limits.decision_rate_change
            and decisions.p_value is not None
            and decisions.p_value < DECISION_P_VALUE
        ):
            reasons.append(
                f"decision rates moved by up to {decisions.max_abs_change:.1%} "
                f"(p = {decisions.p_value:.2g})"
            )

    drift = bool(reasons)
    status: Status = "drift" if drift else ("warning" if warnings else "ok")
    message = (
        f"drift detected in {len(current)} predictions: " + "; ".join(reasons)
        if drift
        else f"no drift in {len(current)} predictions"
        + (": " + "; ".join(warnings) if warnings else "")
    )
    return DriftReport(
        **base,
        status=status,
        drift_detected=drift,
        reasons=reasons + warnings,
        message=message,
        score_psi=None if score_psi is None else round(score_psi, 6),
        score_band=None if score_psi is None else psi_band(score_psi),
        score_bins=score_bins,
        features=features,
        decisions=decisions,
    )
