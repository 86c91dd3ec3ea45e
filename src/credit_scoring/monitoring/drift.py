"""Drift of the live prediction log against the production model's training reference.

Entry point (the ``credit-scoring monitor`` CLI and the Airflow monitoring DAG call it)::

    run_monitoring(settings: Settings | None = None,
                   window_start: datetime | None = None,  # default: end - window hours
                   window_end: datetime | None = None,    # default: now (UTC)
                   source: "auto" | "postgres" | "files" = "auto",
                   alias: str = "production",
                   log_to_mlflow: bool = True) -> DriftReport

It reads the window of the prediction log (:mod:`credit_scoring.monitoring.prediction_log`),
loads the reference of the model version holding ``alias`` (run artifacts
``reference/reference.parquet`` and ``feature_schema.json``), computes the statistics below with
:func:`compute_drift` and logs ``drift/report.json``, ``drift/report.html`` and
``drift/plots/*.png`` to an MLflow run in experiment ``<experiment_name>-monitoring``.

Statistics (all against the reference sample):

* PSI of every feature and of the score, bands ``< 0.10`` stable, ``0.10-0.25`` moderate,
  ``>= 0.25`` significant. Numeric features use reference quantile bins (at most 10, fewer on
  small windows so every bin can hold about 20 rows), categorical ones their categories plus one
  bin for unseen values; missing values get their own bin when present. PSI is the Jeffrey
  divergence of the two bin distributions, computed by optbinning (``binning.metrics.jeffrey``,
  the function its ``ScorecardMonitoring`` uses; that class itself needs the outcomes of the
  monitored window, which do not exist at scoring time).
* Share of rows with a category the schema and reference do not know, per feature.
* Missing rate per feature in reference and window.
* Decision rates (approve/review/decline) and a chi-square test of their change (scipy).

Drift is declared when score or any feature PSI reaches ``monitor_psi_threshold``, an unseen
share exceeds ``monitor_max_unseen_share``, a missing rate rises by more than 0.10, or a decision
rate moves by more than ``monitor_max_decision_rate_change`` with p < 0.01. A window with fewer
than ``monitor_min_rows`` predictions is reported as ``insufficient_data`` and never as drift.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from jinja2 import Environment
from optbinning.binning.metrics import jeffrey  # type: ignore[import-untyped,unused-ignore]
from pydantic import BaseModel, Field
from scipy.stats import chi2_contingency  # type: ignore[import-untyped,unused-ignore]

from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.monitoring.prediction_log import Source, as_utc, read_prediction_log
from credit_scoring.monitoring.report_template import DRIFT_REPORT_HTML
from credit_scoring.registry.gateway import (
    DRIFT_DIR,
    FEATURE_SCHEMA_FILE,
    REFERENCE,
    RegistryGateway,
)

PSI_MODERATE = 0.10
PSI_SIGNIFICANT = 0.25
MISSING_RATE_ALERT = 0.10
DECISION_P_VALUE = 0.01
MAX_BINS = 10
MIN_ROWS_PER_BIN = 20
# Empty bins get this share so that PSI stays finite (the usual PSI convention).
_EPS = 1e-4
_MISSING = "(missing)"
_UNSEEN = "(unseen)"

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


# --- statistics --------------------------------------------------------------------------------


def _n_bins(n_current: int) -> int:
    return int(min(MAX_BINS, max(2, n_current // MIN_ROWS_PER_BIN)))


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    ref = np.maximum(ref_counts / max(ref_counts.sum(), 1), _EPS)
    cur = np.maximum(cur_counts / max(cur_counts.sum(), 1), _EPS)
    return float(jeffrey(cur / cur.sum(), ref / ref.sum(), return_sum=True))


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
    edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, n_bins + 1))[1:-1])
    labels = _edge_labels(edges)
    ref_counts = np.bincount(
        np.searchsorted(edges, ref_values, side="right"), minlength=len(labels)
    )
    cur_values = cur.dropna().to_numpy(dtype=float)
    cur_counts = np.bincount(
        np.searchsorted(edges, cur_values, side="right"), minlength=len(labels)
    )
    ref_missing, cur_missing = int(ref.isna().sum()), int(cur.isna().sum())
    if ref_missing or cur_missing:
        labels.append(_MISSING)
        ref_counts = np.append(ref_counts, ref_missing)
        cur_counts = np.append(cur_counts, cur_missing)
    return _psi(ref_counts, cur_counts), _shares(labels, ref_counts, cur_counts)


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
        _psi(ref_counts, cur_counts),
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
    settings: Settings,
    *,
    window_start: datetime,
    window_end: datetime,
) -> DriftReport:
    """Compare a window of predictions with the training reference (see the module docstring)."""
    thresholds = {
        "psi": settings.monitor_psi_threshold,
        "min_rows": float(settings.monitor_min_rows),
        "unseen_share": settings.monitor_max_unseen_share,
        "decision_rate_change": settings.monitor_max_decision_rate_change,
        "missing_rate_increase": MISSING_RATE_ALERT,
    }
    base: dict[str, Any] = {
        "model_name": settings.model_name,
        "window_start": as_utc(window_start),
        "window_end": as_utc(window_end),
        "n_reference": len(reference),
        "n_current": len(current),
        "thresholds": thresholds,
    }
    if len(reference) == 0:
        raise ValueError("the training reference is empty")
    if len(current) < settings.monitor_min_rows:
        return DriftReport(
            **base,
            status="insufficient_data",
            drift_detected=False,
            message=(
                f"insufficient data: {len(current)} prediction(s) in the window, at least "
                f"{settings.monitor_min_rows} are needed to judge drift"
            ),
        )
    n_bins = _n_bins(len(current))
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
        if psi >= settings.monitor_psi_threshold:
            reasons.append(
                f"feature {feat.name!r}: PSI {psi:.3f} >= {settings.monitor_psi_threshold}"
            )
        elif psi >= PSI_MODERATE:
            warnings.append(f"feature {feat.name!r}: PSI {psi:.3f} (moderate)")
        if unseen is not None and unseen > settings.monitor_max_unseen_share:
            reasons.append(
                f"feature {feat.name!r}: {unseen:.1%} unseen categories "
                f"(> {settings.monitor_max_unseen_share:.1%}), e.g. {unseen_values[:3]}"
            )
        if miss_cur - miss_ref > MISSING_RATE_ALERT:
            reasons.append(
                f"feature {feat.name!r}: missing rate {miss_cur:.1%} vs {miss_ref:.1%} in training"
            )

    score_psi: float | None = None
    score_bins: list[BinShare] = []
    if "score" in reference and "score" in current:
        score_psi, score_bins = numeric_psi(reference["score"], current["score"], n_bins)
        if score_psi >= settings.monitor_psi_threshold:
            reasons.append(f"score: PSI {score_psi:.3f} >= {settings.monitor_psi_threshold}")
        elif score_psi >= PSI_MODERATE:
            warnings.append(f"score: PSI {score_psi:.3f} (moderate)")

    decisions: DecisionDrift | None = None
    if "decision" in reference and "decision" in current:
        decisions = decision_drift(reference["decision"], current["decision"])
        if (
            decisions.max_abs_change > settings.monitor_max_decision_rate_change
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


# --- report rendering --------------------------------------------------------------------------


def render_plots(report: DriftReport) -> dict[str, bytes]:
    """PNG plots of the report (empty for an insufficient window)."""
    if report.status == "insufficient_data":
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}

    def save(fig: Any, name: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        plots[name] = buf.getvalue()

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
    template = Environment(autoescape=True).from_string(DRIFT_REPORT_HTML)
    return template.render(r=report, plots=encoded)


# --- MLflow ------------------------------------------------------------------------------------


def load_reference(
    settings: Settings, alias: str = "production"
) -> tuple[pd.DataFrame, FeatureSchema, str, str]:
    """Reference sample, feature schema, version and run id of the ``alias`` model version."""
    from mlflow.exceptions import MlflowException

    registry = RegistryGateway.from_settings(settings)
    try:
        mv = registry.version_by_alias(alias)
    except MlflowException as exc:
        raise LookupError(
            f"model {settings.model_name!r} has no version with alias {alias!r}: {exc.message}"
        ) from exc
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ref_path = registry.download_artifact(str(mv.run_id), REFERENCE, Path(tmp))
            schema_path = registry.download_artifact(str(mv.run_id), FEATURE_SCHEMA_FILE, Path(tmp))
        except (MlflowException, OSError) as exc:
            raise LookupError(
                f"run {mv.run_id} of {settings.model_name!r} version {mv.version} has no drift "
                f"reference ({REFERENCE}, {FEATURE_SCHEMA_FILE}): {exc}"
            ) from exc
        reference = pd.read_parquet(ref_path)
        schema = FeatureSchema.load(schema_path)
    return reference, schema, str(mv.version), str(mv.run_id)


def log_report(report: DriftReport, settings: Settings) -> str:
    """Log the report (JSON, HTML, plots, headline metrics) to MLflow; returns the run id."""
    client = RegistryGateway.from_settings(settings).client
    name = f"{settings.experiment_name}-monitoring"
    experiment = client.get_experiment_by_name(name)
    exp_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(name, artifact_location=_monitoring_artifacts(settings))
    )
    run = client.create_run(
        exp_id,
        run_name=f"drift {report.window_start:%Y-%m-%d %H:%M} - {report.window_end:%Y-%m-%d %H:%M}",
        tags={
            "model_name": report.model_name,
            "model_version": report.model_version or "",
            "reference_run_id": report.reference_run_id or "",
            "drift_status": report.status,
            "drift_detected": str(report.drift_detected).lower(),
        },
    )
    run_id: str = run.info.run_id
    report.mlflow_run_id = run_id
    metrics: dict[str, float] = {
        "n_current": report.n_current,
        "drift_detected": float(report.drift_detected),
    }
    if report.score_psi is not None:
        metrics["score_psi"] = report.score_psi
    if report.max_feature_psi is not None:
        metrics["max_feature_psi"] = report.max_feature_psi
    for f in report.features:
        metrics[f"psi_{f.name}"[:250]] = f.psi
    if report.decisions is not None:
        metrics["decision_rate_max_change"] = report.decisions.max_abs_change
    ts = int(report.window_end.timestamp() * 1000)
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value), timestamp=ts)
    plots = render_plots(report)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "plots").mkdir()
        for fname, data in plots.items():
            (out / "plots" / fname).write_bytes(data)
        (out / "report.json").write_text(report.to_json(), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, plots), encoding="utf-8")
        client.log_artifacts(run_id, str(out), DRIFT_DIR)
    client.set_terminated(run_id)
    return run_id


def _monitoring_artifacts(settings: Settings) -> str | None:
    return (settings.home / "artifacts" / "monitoring").as_uri() if settings.embedded else None


def run_monitoring(
    settings: Settings | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    source: Source = "auto",
    alias: str = "production",
    log_to_mlflow: bool = True,
) -> DriftReport:
    """Check one window of the prediction log for drift against the ``alias`` model's reference."""
    settings = settings or Settings()
    end = as_utc(window_end) if window_end else datetime.now(UTC)
    start = (
        as_utc(window_start)
        if window_start
        else end - timedelta(hours=settings.monitor_window_hours)
    )
    reference, schema, version, run_id = load_reference(settings, alias)
    current = read_prediction_log(settings, start, end, source=source)
    report = compute_drift(reference, current, schema, settings, window_start=start, window_end=end)
    report.model_version = version
    report.reference_run_id = run_id
    if log_to_mlflow:
        log_report(report, settings)
    return report


def report_from_json(text: str) -> DriftReport:
    """Parse a report written by :meth:`DriftReport.to_json`."""
    return DriftReport.model_validate(json.loads(text))
