"""PD backtest of a model version on live decisions and their realised outcomes.

Entry point (``credit-scoring backtest`` and the Airflow monitoring DAG)::

    run_backtest(settings, version=None,            # default: the version holding ``alias``
                 window_start=None, window_end=None, # decisions made in [start, end)
                 migration=None,                     # (date_from, date_to) for the migration matrix
                 alias="production", log_to_mlflow=True) -> BacktestReport

It joins the version's logged decisions with their outcomes
(:func:`credit_scoring.monitoring.evidence.decisions_with_outcomes`), grades the PDs on the
version's master scale (``master_scale.json`` of its run; the default scale for versions trained
before grades existed) and computes, with :mod:`credit_scoring.monitoring.backtest_stats`:

* per grade: obligors, defaults, observed default rate, mean PD, one-sided binomial and Jeffreys
  p-values and a traffic light on the Jeffreys test: **green** p >= 0.05, **amber** 0.001 <= p <
  0.05, **red** p < 0.001 (``CREDIT_SCORING_BACKTEST_AMBER_BELOW`` / ``_RED_BELOW``; 95% and
  99.9% confidence, the levels of the Basel traffic-light approach and of the IRB formula);
* Hosmer-Lemeshow over grades (same lights on its p-value);
* realised AUC, KS and Brier with 95% bootstrap intervals (stratified percentile bootstrap of
  ``evaluation.statistics``, as the model card's);
* performance estimation (CBPE): expected AUC and default rate from the PDs alone, on the
  decisions with outcomes (next to the realised figures) and on those still pending; an alert
  when the pending decisions' expected AUC falls more than
  ``CREDIT_SCORING_BACKTEST_MAX_ESTIMATED_AUC_DROP`` below the version's holdout AUC;
* the grade migration matrix between two dates: for each ``application_key`` (the lender's key
  of the application or applicant, sent with each application and recorded in the decision
  ledger), its latest grade on or before each date (within two performance windows before it),
  for the keys scored by both dates. A decision id is unique per scoring and cannot migrate;
  decisions without a key are counted (``without_key``), not matched.

The status is the worst light (``insufficient_data`` under ``CREDIT_SCORING_BACKTEST_MIN_OUTCOMES``
outcomes). The report is logged to the monitoring experiment as ``backtest/report.json``,
``backtest/report.html`` (plots embedded), ``backtest/plots/*.png`` and ``backtest/metrics.prom``
(the figures in Prometheus text format, for a node-exporter textfile collector or a pushgateway).
"""

from __future__ import annotations

import base64
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from credit_scoring.config import Settings
from credit_scoring.monitoring import backtest_stats as bt
from credit_scoring.monitoring.evidence import decisions_with_outcomes
from credit_scoring.monitoring.prediction_log import Source, as_utc, read_prediction_log
from credit_scoring.registry.gateway import BACKTEST_DIR, MASTER_SCALE_FILE, RegistryGateway
from credit_scoring.scoring.grades import MasterScale

Status = Literal["green", "amber", "red", "insufficient_data"]
_LIGHT_VALUE = {"green": 0, "amber": 1, "red": 2, "insufficient_data": -1}


class Interval(BaseModel):
    estimate: float
    lower: float
    upper: float
    level: float = 0.95


class Realised(BaseModel):
    """Figures on the decisions whose outcomes are known."""

    n: int
    defaults: int
    default_rate: float
    auc: Interval | None = None
    ks: Interval | None = None
    brier: Interval | None = None


class Estimated(BaseModel):
    """Confidence-based performance estimation from the PDs alone."""

    n: int
    expected_default_rate: float
    expected_auc: float | None


class Migration(BaseModel):
    """Grades of the same application keys at two dates: ``n`` keys graded at both;
    ``only_from`` / ``only_to`` keys graded at one date only; ``without_key`` decisions in the
    two lookback windows that carry no application key (counted once each)."""

    date_from: date
    date_to: date
    n: int
    only_from: int = 0
    only_to: int = 0
    without_key: int = 0
    labels: list[str]
    counts: list[list[int]]
    shares: list[list[float]]


class HosmerLemeshowOut(BaseModel):
    statistic: float
    dof: int
    p_value: float
    light: str


class BacktestReport(BaseModel):
    """What one backtest found (``backtest/report.json``)."""

    model_name: str
    model_version: str
    run_id: str | None = None
    window_start: datetime
    window_end: datetime
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    amber_below: float
    red_below: float
    master_scale: list[dict[str, Any]]
    n_decisions: int
    n_with_outcome: int
    n_pending: int
    grades: list[dict[str, Any]] = Field(default_factory=list)
    hosmer_lemeshow: HosmerLemeshowOut | None = None
    realised: Realised | None = None
    estimated_on_realised: Estimated | None = None
    estimated_pending: Estimated | None = None
    holdout_auc: float | None = None
    estimated_auc_drop: float | None = None
    migration: Migration | None = None
    status: Status = "insufficient_data"
    alerts: list[str] = Field(default_factory=list)
    mlflow_run_id: str | None = None

    @property
    def red(self) -> bool:
        return self.status == "red"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# --- statistics --------------------------------------------------------------------------------


def bootstrap_intervals(y: NDArray[np.float64], p: NDArray[np.float64]) -> dict[str, Interval]:
    """95% stratified percentile bootstrap of AUC, KS and Brier
    (:func:`credit_scoring.evaluation.statistics.bootstrap_intervals`, the gate's method)."""
    from credit_scoring.evaluation import statistics

    out = statistics.bootstrap_intervals(y, p, ("auc", "ks", "brier"), n_boot=300)
    return {
        k: Interval(estimate=v.estimate, lower=v.lower, upper=v.upper, level=v.level)
        for k, v in out.items()
    }


def _estimated(p: NDArray[np.float64]) -> Estimated | None:
    if len(p) == 0:
        return None
    e = bt.estimate_performance(p)
    auc = None if np.isnan(e.expected_auc) else e.expected_auc
    return Estimated(n=e.n, expected_default_rate=e.expected_default_rate, expected_auc=auc)


def _worst(lights: list[str]) -> Status:
    for light in ("red", "amber"):
        if light in lights:
            return light
    return "green"


def compute_backtest(
    decisions: pd.DataFrame,
    scale: MasterScale,
    *,
    model_name: str,
    model_version: str,
    window_start: datetime,
    window_end: datetime,
    amber_below: float = 0.05,
    red_below: float = 0.001,
    min_outcomes: int = 100,
    holdout_auc: float | None = None,
    max_estimated_auc_drop: float = 0.05,
) -> BacktestReport:
    """The report of ``decisions`` (columns ``probability`` and ``defaulted``, NaN = pending)."""
    known = decisions["defaulted"].notna().to_numpy() if len(decisions) else np.zeros(0, bool)
    p_all = decisions["probability"].to_numpy(dtype=np.float64) if len(decisions) else np.zeros(0)
    p, y = p_all[known], decisions["defaulted"].to_numpy(dtype=np.float64)[known]
    report = BacktestReport(
        model_name=model_name,
        model_version=model_version,
        window_start=window_start,
        window_end=window_end,
        amber_below=amber_below,
        red_below=red_below,
        master_scale=scale.table(),
        n_decisions=len(decisions),
        n_with_outcome=int(known.sum()),
        n_pending=int((~known).sum()),
        holdout_auc=holdout_auc,
        estimated_pending=_estimated(p_all[~known]),
    )
    if report.estimated_pending and report.estimated_pending.expected_auc and holdout_auc:
        drop = holdout_auc - report.estimated_pending.expected_auc
        report.estimated_auc_drop = drop
        if drop > max_estimated_auc_drop:
            report.alerts.append(
                f"estimated AUC of {report.n_pending} pending decisions "
                f"{report.estimated_pending.expected_auc:.3f} is {drop:.3f} below the holdout AUC "
                f"{holdout_auc:.3f} (limit {max_estimated_auc_drop})"
            )
    if len(y) < min_outcomes:
        report.alerts.append(
            f"only {len(y)} decisions with outcomes (at least {min_outcomes} needed to judge)"
        )
        return report
    idx = scale.grade_index(p)
    rows = bt.grade_backtest(
        idx, p, y, scale.labels, scale.lower_bounds, scale.upper_bounds, amber_below, red_below
    )
    report.grades = [r.as_dict() for r in rows]
    used = [r for r in rows if r.n > 0]
    hl = bt.hosmer_lemeshow(
        [r.n for r in used], [r.defaults for r in used], [r.mean_pd for r in used]
    )
    report.hosmer_lemeshow = HosmerLemeshowOut(
        statistic=hl.statistic,
        dof=hl.dof,
        p_value=hl.p_value,
        light=bt.traffic_light(hl.p_value, amber_below, red_below),
    )
    defaults = int(y.sum())
    realised = Realised(n=len(y), defaults=defaults, default_rate=defaults / len(y))
    if 0 < defaults < len(y):
        cis = bootstrap_intervals(y, p)
        realised.auc, realised.ks, realised.brier = cis["auc"], cis["ks"], cis["brier"]
    report.realised = realised
    report.estimated_on_realised = _estimated(p)
    report.status = _worst([r.light for r in rows] + [report.hosmer_lemeshow.light])
    reds = [r.grade for r in rows if r.light == "red"]
    if reds:
        report.alerts.append(
            f"backtest red: observed default rates significantly above the PD in grade(s) "
            f"{', '.join(reds)} (Jeffreys p < {red_below})"
        )
    elif report.hosmer_lemeshow.light == "red":
        report.alerts.append(f"backtest red: Hosmer-Lemeshow p = {hl.p_value:.2g}")
    return report


def migration_between(
    settings: Settings,
    scale: MasterScale,
    date_from: date,
    date_to: date,
    source: Source = "auto",
) -> Migration:
    """Grade migration of the application keys scored by both dates: each key's latest grade on
    or before ``date_from`` against its latest on or before ``date_to``."""
    if date_to < date_from:
        raise ValueError(f"migration: date_to {date_to} is before date_from {date_from}")
    lookback = timedelta(days=2 * settings.outcome_window_days)
    unkeyed: set[str] = set()

    def grades_at(day: date) -> pd.Series:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        frame = read_prediction_log(settings, end - lookback, end, source=source)
        if frame.empty:
            return pd.Series(dtype=np.int64)
        has_key = frame["application_key"].notna()
        unkeyed.update(frame.loc[~has_key, "decision_id"].astype(str))
        keyed = frame[has_key]
        # ts ties (a batch) keep the later ledger entry: the reader returns entries in seq order.
        latest = keyed.sort_values("ts", kind="stable").drop_duplicates(
            "application_key", keep="last"
        )
        return pd.Series(
            scale.grade_index(latest["probability"].to_numpy(dtype=np.float64)),
            index=latest["application_key"].astype(str),
        )

    a, b = grades_at(date_from), grades_at(date_to)
    common = a.index.intersection(b.index)
    counts, shares = bt.migration_matrix(
        a[common].to_numpy(), b[common].to_numpy(), len(scale.labels)
    )
    return Migration(
        date_from=date_from,
        date_to=date_to,
        n=len(common),
        only_from=len(a.index.difference(b.index)),
        only_to=len(b.index.difference(a.index)),
        without_key=len(unkeyed),
        labels=list(scale.labels),
        counts=counts.tolist(),
        shares=shares.tolist(),
    )


# --- outputs -----------------------------------------------------------------------------------


def prometheus_text(report: BacktestReport) -> bytes:
    """The report's figures in the Prometheus text format (gauges labelled by model/version)."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    reg = CollectorRegistry()
    base = ["model_name", "model_version"]
    lab = [report.model_name, report.model_version]

    def gauge(name: str, doc: str, extra: list[str] | None = None) -> Gauge:
        return Gauge(f"credit_scoring_backtest_{name}", doc, base + (extra or []), registry=reg)

    gauge("status", "Backtest light: 0 green, 1 amber, 2 red, -1 insufficient data.").labels(
        *lab
    ).set(_LIGHT_VALUE[report.status])
    gauge("decisions", "Decisions in the window by outcome state.", ["state"]).labels(
        *lab, "with_outcome"
    ).set(report.n_with_outcome)
    g_obl = gauge("grade_obligors", "Decisions with outcome per grade.", ["grade"])
    g_obs = gauge("grade_observed_default_rate", "Observed default rate per grade.", ["grade"])
    g_pd = gauge("grade_mean_pd", "Mean predicted PD per grade.", ["grade"])
    g_p = gauge("grade_jeffreys_p_value", "Jeffreys test p-value per grade.", ["grade"])
    g_l = gauge("grade_light", "Traffic light per grade (0 green, 1 amber, 2 red).", ["grade"])
    for g in report.grades:
        if g["n"] == 0:
            continue
        g_obl.labels(*lab, g["grade"]).set(g["n"])
        g_obs.labels(*lab, g["grade"]).set(g["observed_default_rate"])
        g_pd.labels(*lab, g["grade"]).set(g["mean_pd"])
        g_p.labels(*lab, g["grade"]).set(g["jeffreys_p"])
        g_l.labels(*lab, g["grade"]).set(_LIGHT_VALUE[g["light"]])
    if report.hosmer_lemeshow:
        gauge("hosmer_lemeshow_p_value", "Hosmer-Lemeshow p-value over grades.").labels(*lab).set(
            report.hosmer_lemeshow.p_value
        )
    if report.realised and report.realised.auc:
        gauge("realised_auc", "Realised AUC on decisions with outcomes.").labels(*lab).set(
            report.realised.auc.estimate
        )
    if report.estimated_on_realised and report.estimated_on_realised.expected_auc:
        gauge("estimated_auc", "Expected AUC (CBPE) on decisions with outcomes.").labels(*lab).set(
            report.estimated_on_realised.expected_auc
        )
    if report.estimated_pending and report.estimated_pending.expected_auc:
        gauge("estimated_auc_pending", "Expected AUC (CBPE) on pending decisions.").labels(
            *lab
        ).set(report.estimated_pending.expected_auc)
    return bytes(generate_latest(reg))


def render_plots(report: BacktestReport) -> dict[str, bytes]:
    """Predicted PD vs observed default rate per grade (Jeffreys 95% intervals); migration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    plots: dict[str, bytes] = {}

    from credit_scoring.evaluation.plots import png_bytes

    def save(fig: Any, name: str) -> None:
        plots[name] = png_bytes(fig)

    rows = [g for g in report.grades if g["n"] > 0]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 3.8))
        x = np.arange(len(rows))
        obs = np.array([g["observed_default_rate"] for g in rows])
        lo = [
            stats.beta.ppf(0.025, g["defaults"] + 0.5, g["n"] - g["defaults"] + 0.5) for g in rows
        ]
        hi = [
            stats.beta.ppf(0.975, g["defaults"] + 0.5, g["n"] - g["defaults"] + 0.5) for g in rows
        ]
        colours = {"green": "tab:green", "amber": "tab:orange", "red": "tab:red"}
        ax.bar(x, [g["mean_pd"] for g in rows], 0.6, color="lightgrey", label="mean PD")
        # Jeffreys intervals need not contain the observed rate (e.g. no default at all).
        below = np.clip(obs - np.array(lo), 0, None)
        above = np.clip(np.array(hi) - obs, 0, None)
        ax.errorbar(x, obs, yerr=[below, above], fmt="none", ecolor="black", capsize=3)
        ax.scatter(x, obs, c=[colours[g["light"]] for g in rows], zorder=3, label="observed")
        ax.set_xticks(x, [f"{g['grade']}\n(n={g['n']})" for g in rows], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("default rate")
        ax.set_title("Predicted PD vs observed default rate per grade (Jeffreys 95%)")
        ax.legend()
        save(fig, "grades.png")
    if report.migration and report.migration.n:
        m = np.array(report.migration.shares)
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        labels = report.migration.labels
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"grade on {report.migration.date_to}")
        ax.set_ylabel(f"grade on {report.migration.date_from}")
        for (i, j), v in np.ndenumerate(np.array(report.migration.counts)):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
        ax.set_title(f"Grade migration (n={report.migration.n})")
        save(fig, "migration.png")
    return plots


def render_html(report: BacktestReport, plots: dict[str, bytes] | None = None) -> str:
    """A self-contained HTML page of the report (plots embedded)."""
    plots = render_plots(report) if plots is None else plots
    encoded = {k: base64.b64encode(v).decode() for k, v in plots.items()}
    env = Environment(
        loader=PackageLoader("credit_scoring", "monitoring/templates"), autoescape=True
    )
    return env.get_template("backtest_report.html.j2").render(r=report, plots=encoded)


# --- one run -------------------------------------------------------------------------------------


def _version_context(
    settings: Settings, version: str | None, alias: str
) -> tuple[str, str | None, MasterScale, float | None]:
    """Version number, run id, master scale and holdout AUC of the version to backtest."""
    from mlflow.exceptions import MlflowException

    registry = RegistryGateway.from_settings(settings)
    try:
        mv = registry.version(version) if version else registry.version_by_alias(alias)
    except MlflowException as exc:
        what = f"version {version}" if version else f"alias {alias!r}"
        raise LookupError(f"model {settings.model_name!r} has no {what}: {exc.message}") from exc
    scale = MasterScale()
    auc = None
    if mv.run_id:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = registry.download_artifact(mv.run_id, MASTER_SCALE_FILE, Path(tmp))
                scale = MasterScale.model_validate_json(path.read_text(encoding="utf-8"))
            except (MlflowException, OSError):
                pass  # trained before grades existed: the default scale served it
        auc = registry.run_metrics(mv.run_id).get("test_auc")
    return str(mv.version), mv.run_id, scale, auc


def log_backtest(report: BacktestReport, settings: Settings) -> str:
    """Log JSON, HTML, plots, Prometheus text and headline metrics; returns the run id."""
    from credit_scoring.monitoring.run import start_monitoring_run

    client, run_id = start_monitoring_run(
        settings,
        f"backtest v{report.model_version} {report.window_start:%Y-%m-%d} - "
        f"{report.window_end:%Y-%m-%d}",
        {
            "kind": "backtest",
            "model_name": report.model_name,
            "model_version": report.model_version,
            "backtest_status": report.status,
        },
    )
    report.mlflow_run_id = run_id
    metrics: dict[str, float] = {
        "n_with_outcome": report.n_with_outcome,
        "n_pending": report.n_pending,
        "status": _LIGHT_VALUE[report.status],
    }
    if report.hosmer_lemeshow:
        metrics["hosmer_lemeshow_p"] = report.hosmer_lemeshow.p_value
    if report.realised and report.realised.auc and report.realised.ks and report.realised.brier:
        metrics.update(
            realised_auc=report.realised.auc.estimate,
            realised_ks=report.realised.ks.estimate,
            realised_brier=report.realised.brier.estimate,
            realised_default_rate=report.realised.default_rate,
        )
    for name, est in (("", report.estimated_on_realised), ("pending_", report.estimated_pending)):
        if est and est.expected_auc is not None:
            metrics[f"estimated_{name}auc"] = est.expected_auc
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    plots = render_plots(report)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "plots").mkdir()
        for fname, data in plots.items():
            (out / "plots" / fname).write_bytes(data)
        (out / "report.json").write_text(report.to_json(), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, plots), encoding="utf-8")
        (out / "metrics.prom").write_bytes(prometheus_text(report))
        client.log_artifacts(run_id, str(out), BACKTEST_DIR)
    client.set_terminated(run_id)
    return run_id


def run_backtest(
    settings: Settings | None = None,
    version: str | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    migration: tuple[date, date] | None = None,
    alias: str = "production",
    source: Source = "auto",
    log_to_mlflow: bool = True,
) -> BacktestReport:
    """Backtest one version on the decisions of a window (default: the last two performance
    windows, so that matured decisions are in)."""
    settings = settings or Settings()
    end = as_utc(window_end) if window_end else datetime.now(UTC)
    start = (
        as_utc(window_start)
        if window_start
        else end - timedelta(days=2 * settings.outcome_window_days)
    )
    number, run_id, scale, holdout_auc = _version_context(settings, version, alias)
    decisions = decisions_with_outcomes(settings, start, end, version=number, source=source)
    report = compute_backtest(
        decisions,
        scale,
        model_name=settings.model_name,
        model_version=number,
        window_start=start,
        window_end=end,
        amber_below=settings.backtest_amber_below,
        red_below=settings.backtest_red_below,
        min_outcomes=settings.backtest_min_outcomes,
        holdout_auc=holdout_auc,
        max_estimated_auc_drop=settings.backtest_max_estimated_auc_drop,
    )
    report.run_id = run_id
    if migration is not None:
        report.migration = migration_between(settings, scale, *migration, source=source)
    if log_to_mlflow:
        log_backtest(report, settings)
    return report


def report_from_json(text: str) -> BacktestReport:
    return BacktestReport.model_validate(json.loads(text))
