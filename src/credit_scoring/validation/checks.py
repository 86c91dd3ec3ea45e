"""The individual checks of the validation gate: performance thresholds, fairness (fairlearn)
and stability (PSI); champion/challenger is ``validation.champion``.

Each returns :class:`Check` records; ``passed=None`` means measured but not judged (for
instance a group too small to judge), which never fails the gate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, selection_rate
from numpy.typing import NDArray

from credit_scoring.config import Settings
from credit_scoring.evaluation.psi import psi
from credit_scoring.evaluation.statistics import Interval


@dataclass(frozen=True)
class Check:
    """One line of the gate table."""

    name: str
    category: str
    passed: bool | None
    value: float | None
    threshold: float | None
    detail: str
    blocking: bool = True

    @property
    def failed(self) -> bool:
        """A blocking check that did not pass (fails the gate)."""
        return self.blocking and self.passed is False

    @property
    def warning(self) -> bool:
        """A non-blocking check that did not pass (reported, does not fail the gate)."""
        return not self.blocking and self.passed is False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def threshold_checks(
    metrics: dict[str, float],
    settings: Settings,
    intervals: dict[str, Interval] | None = None,
    cv: dict[str, float] | None = None,
) -> list[Check]:
    """Minimum AUC and KS, maximum Brier and expected calibration error on the holdout.

    With ``intervals`` (bootstrap) and ``settings.gate_statistic == "bound"`` each threshold
    judges the pessimistic bound of the interval instead of the point estimate; the interval and
    the cross-validated estimate (``cv``: ``cv_<metric>_mean``/``_std``) are shown beside it.
    """
    rules = [
        ("auc", ">=", settings.gate_min_auc),
        ("ks", ">=", settings.gate_min_ks),
        ("brier", "<=", settings.gate_max_brier),
        ("ece", "<=", settings.gate_max_ece),
    ]
    out = []
    for metric, op, limit in rules:
        value = metrics[metric]
        interval = (intervals or {}).get(metric)
        judged = value
        what = f"holdout {metric} = {value:.4f}"
        if interval is not None:
            what += f" [{interval.lower:.4f}, {interval.upper:.4f}] ({interval.level:.0%} CI)"
            if settings.gate_statistic == "bound":
                judged = interval.pessimistic(metric)
                what += f"; judged on the {'lower' if op == '>=' else 'upper'} bound"
        mean = (cv or {}).get(f"cv_{metric}_mean")
        if mean is not None:
            what += f"; CV {mean:.4f} ± {(cv or {}).get(f'cv_{metric}_std', 0.0):.4f}"
        ok = judged >= limit if op == ">=" else judged <= limit
        out.append(
            Check(
                name=f"{metric} {op} {limit:g}",
                category="performance",
                passed=ok,
                value=judged,
                threshold=limit,
                detail=what,
            )
        )
    return out


def _ratio_check(
    attr: str,
    label: str,
    approved: NDArray[np.bool_],
    y: NDArray[np.int64],
    groups: pd.Series,
    settings: Settings,
    blocking: bool,
) -> tuple[Check, list[dict[str, Any]]]:
    frame = MetricFrame(
        metrics={"approval_rate": selection_rate, "count": count},
        y_true=y,
        y_pred=approved.astype(int),
        sensitive_features=groups,
    )
    by_group = frame.by_group.reset_index()
    by_group.columns = ["group", "approval_rate", "count"]
    judged = by_group[by_group["count"] >= settings.gate_min_group_size]
    table = [
        {
            "group": str(r.group),
            "approval_rate": float(r.approval_rate),
            "count": int(r.count),
            "judged": bool(r.count >= settings.gate_min_group_size),
        }
        for r in by_group.itertuples()
    ]
    small = sorted(set(by_group["group"].astype(str)) - set(judged["group"].astype(str)))
    note = f"; too small to judge: {small}" if small else ""
    limit = settings.gate_min_fairness_ratio
    name = f"{label} ({attr}) >= {limit:g}"
    if len(judged) < 2 or judged["approval_rate"].max() <= 0:
        detail = f"fewer than two groups with >= {settings.gate_min_group_size} rows{note}"
        return Check(name, "fairness", None, None, limit, detail, blocking), table
    ratio = float(judged["approval_rate"].min() / judged["approval_rate"].max())
    lo = judged.loc[judged["approval_rate"].idxmin(), "group"]
    hi = judged.loc[judged["approval_rate"].idxmax(), "group"]
    detail = f"lowest {lo!s} vs highest {hi!s}{note}"
    return Check(name, "fairness", ratio >= limit, ratio, limit, detail, blocking), table


def fairness_checks(
    approved: NDArray[np.bool_],
    y: NDArray[np.int64],
    protected: pd.DataFrame,
    settings: Settings,
) -> tuple[list[Check], dict[str, list[dict[str, Any]]]]:
    """Approval-rate ratios (four-fifths rule) per protected attribute, measured with fairlearn.

    Two ratios per attribute: over all applicants (demographic parity, the classic four-fifths
    rule) and over applicants who did not default (equal opportunity: creditworthy applicants
    treated alike). A low raw ratio can be explained by different default rates between groups;
    it fails the gate only when ``gate_block_on_raw_ratio`` is set, otherwise it is a reported
    warning. A low ratio among non-defaulters is not explained by risk and always fails the gate.
    Groups smaller than ``gate_min_group_size`` are reported, not judged.
    """
    checks: list[Check] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    good = y == 0
    for attr in protected.columns:
        raw, tables[attr] = _ratio_check(
            attr,
            "approval-rate ratio",
            approved,
            y,
            protected[attr],
            settings,
            blocking=settings.gate_block_on_raw_ratio,
        )
        among_good, tables[f"{attr} (non-defaulters)"] = _ratio_check(
            attr,
            "approval-rate ratio among non-defaulters",
            approved[good],
            y[good],
            protected[attr][good],
            settings,
            blocking=True,
        )
        checks += [raw, among_good]
    return checks, tables


def stability_check(
    reference: NDArray[np.float64], holdout: NDArray[np.float64], settings: Settings
) -> Check:
    """PSI of the score between the training reference and the holdout."""
    value = psi(reference, holdout)
    return Check(
        name=f"score PSI train->test <= {settings.gate_max_psi:g}",
        category="stability",
        passed=value <= settings.gate_max_psi,
        value=value,
        threshold=settings.gate_max_psi,
        detail=f"PSI {value:.4f} over 10 quantile bins of the training score",
    )
