"""The drift report: its model (what one monitoring run found), plots and HTML page.

:class:`DriftReport` is what ``monitoring.statistics.compute_drift`` returns, what
``monitoring.run`` logs to MLflow (``drift/report.json``, ``drift/report.html``,
``drift/plots/*.png``) and what the CLI prints. The HTML page is rendered from the Jinja2 template
``monitoring/templates/drift_report.html.j2`` with the plots embedded.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, Field

PSI_MODERATE = 0.10
PSI_SIGNIFICANT = 0.25

Band = Literal["stable", "moderate", "significant"]
Status = Literal["ok", "warning", "drift", "insufficient_data"]


def psi_band(psi: float) -> Band:
    """The conventional PSI band: stable (< 0.10), moderate (< 0.25), significant."""
    if psi < PSI_MODERATE:
        return "stable"
    if psi < PSI_SIGNIFICANT:
        return "moderate"
    return "significant"


class BinShare(BaseModel):
    """Share of reference and window rows in one bin."""

    bin: str
    reference: float
    current: float


class FeatureDrift(BaseModel):
    """Drift statistics of one feature."""

    name: str
    type: Literal["numeric", "categorical"]
    psi: float
    band: Band
    missing_rate_reference: float
    missing_rate_current: float
    unseen_share: float | None = None
    unseen_values: list[str] = Field(default_factory=list)
    bins: list[BinShare] = Field(default_factory=list)


class DecisionDrift(BaseModel):
    """Decision rates in reference and window and the test of their change."""

    reference: dict[str, float]
    current: dict[str, float]
    max_abs_change: float
    p_value: float | None


class DriftReport(BaseModel):
    """Everything one monitoring run found; ``drift_detected`` drives retraining."""

    model_name: str = ""
    model_version: str | None = None
    reference_run_id: str | None = None
    window_start: datetime
    window_end: datetime
    n_reference: int
    n_current: int
    status: Status
    drift_detected: bool
    reasons: list[str] = Field(default_factory=list)
    message: str
    score_psi: float | None = None
    score_band: Band | None = None
    score_bins: list[BinShare] = Field(default_factory=list)
    features: list[FeatureDrift] = Field(default_factory=list)
    decisions: DecisionDrift | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    mlflow_run_id: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def max_feature_psi(self) -> float | None:
        return max((f.psi for f in self.features), default=None)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def report_from_json(text: str) -> DriftReport:
    """Parse a report written by :meth:`DriftReport.to_json`."""
    return DriftReport.model_validate(json.loads(text))


# --- rendering -----------------------------------------------------------------------------------


def render_plots(report: DriftReport) -> dict[str, bytes]:
    """PNG plots of the report (empty for an insufficient window)."""
    if report.status == "insufficient_data":
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}

    from credit_scoring.evaluation.plots import png_bytes

    def save(fig: Any, name: str) -> None:
        plots[name] = png_bytes(fig)

    if report.score_bins:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        x = np.arange(len(report.score_bins))
        ax.bar(
            x - 0.2,
            [b.reference for b in report.score_bins],
            0.4,
            label="training reference",
        )
        ax.bar(x + 0.2, [b.current for b in report.score_bins], 0.4, label="window")
        ax.set_xticks(x, [b.bin for b in report.score_bins], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share")
        ax.set_title(f"Score distribution (PSI {report.score_psi:.3f})")
        ax.legend()
        save(fig, "score_distribution.png")

    if report.features:
        feats = sorted(report.features, key=lambda f: f.psi)
        fig, ax = plt.subplots(figsize=(8, max(3.0, 0.3 * len(feats))))
        colors = {
            "stable": "tab:green",
            "moderate": "tab:orange",
            "significant": "tab:red",
        }
        ax.barh(
            [f.name for f in feats],
            [f.psi for f in feats],
            color=[colors[f.band] for f in feats],
        )
        for line in (PSI_MODERATE, PSI_SIGNIFICANT):
            ax.axvline(line, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("PSI")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("Feature PSI (bands 0.10 / 0.25)")
        save(fig, "feature_psi.png")

    if report.decisions is not None:
        names = sorted(set(report.decisions.reference) | set(report.decisions.current))
        fig, ax = plt.subplots(figsize=(6, 3))
        x = np.arange(len(names))
        ax.bar(
            x - 0.2,
            [report.decisions.reference.get(n, 0.0) for n in names],
            0.4,
            label="training reference",
        )
        ax.bar(
            x + 0.2,
            [report.decisions.current.get(n, 0.0) for n in names],
            0.4,
            label="window",
        )
        ax.set_xticks(x, names)
        ax.set_ylabel("rate")
        ax.set_title("Decision rates")
        ax.legend()
        save(fig, "decision_rates.png")
    return plots


def render_html(report: DriftReport, plots: dict[str, bytes] | None = None) -> str:
    """A self-contained HTML page (plots embedded) of the report."""
    plots = render_plots(report) if plots is None else plots
    encoded = {k: base64.b64encode(v).decode() for k, v in plots.items()}
    env = Environment(
        loader=PackageLoader("credit_scoring", "monitoring/templates"), autoescape=True
    )
    return env.get_template("drift_report.html.j2").render(r=report, plots=encoded)
