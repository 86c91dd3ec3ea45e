"""Challenger report from live traffic: the shadow challenger's decisions against the served
champion's on the same applicants.

Entry point (``credit-scoring compare`` and the promotion DAG)::

    run_compare(settings, champion="production", challenger="staging",
                since=None, until=None, log_to_mlflow=True) -> CompareReport

On the shadow pairs (:mod:`credit_scoring.monitoring.shadow_log`) whose served version is the
champion's and whose shadow version is the challenger's, it reports the decision agreement
matrix, swap-in (the champion would not approve, the challenger would) and swap-out sets, the
approval-rate delta overall and per protected group (the four-fifths rule on live applicants:
each model's lowest group approval rate over its highest; groups come from the applicants'
inputs in the decision ledger, joined on the decision id, using the challenger's feature schema),
the PSI between the two PD distributions and a PD scatter plot. "Approved" follows
``CREDIT_SCORING_GATE_FAVOURABLE_OUTCOME`` (by default: not declined), like the gate.

The HTML and JSON report are logged to the **challenger version's training run** under
``compare/`` and summarised in version tags (``live_compare_pairs``, ``live_compare_flip_rate``,
``live_compare_min_fairness_ratio``, ``live_compare_at``), which the promotion to production
requires when ``CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE`` is set (off by default; see
:mod:`credit_scoring.registry.live_evidence`).
"""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.evaluation.psi import psi
from credit_scoring.monitoring.prediction_log import Source, as_utc, read_prediction_log
from credit_scoring.monitoring.shadow_log import read_shadow_log
from credit_scoring.registry.gateway import COMPARE_DIR, FEATURE_SCHEMA_FILE, RegistryGateway
from credit_scoring.scoring.scaling import DECISIONS

_MAX_LISTED = 50


class GroupRates(BaseModel):
    attribute: str
    group: str
    n: int
    champion_approval: float
    challenger_approval: float


class FairnessRatio(BaseModel):
    attribute: str
    champion_ratio: float | None
    challenger_ratio: float | None
    passes: bool | None = Field(description="Challenger ratio >= the minimum (None: no groups).")


class CompareReport(BaseModel):
    model_name: str
    champion_alias: str
    challenger_alias: str
    champion_version: str
    challenger_version: str
    window_start: datetime
    window_end: datetime
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    n_pairs: int
    agreement_matrix: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="champion decision -> challenger decision -> count"
    )
    agreement_rate: float | None = None
    flip_rate: float | None = Field(default=None, description="Share approve <-> decline.")
    swap_in: int = 0
    swap_out: int = 0
    swap_in_ids: list[str] = Field(default_factory=list)
    swap_out_ids: list[str] = Field(default_factory=list)
    champion_approval_rate: float | None = None
    challenger_approval_rate: float | None = None
    approval_rate_delta: float | None = None
    groups: list[GroupRates] = Field(default_factory=list)
    fairness: list[FairnessRatio] = Field(default_factory=list)
    min_fairness_ratio: float = 0.8
    pd_psi: float | None = None
    notes: list[str] = Field(default_factory=list)
    mlflow_run_id: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @property
    def challenger_min_ratio(self) -> float | None:
        ratios = [f.challenger_ratio for f in self.fairness if f.challenger_ratio is not None]
        return min(ratios) if ratios else None


def _approved(decisions: pd.Series, favourable: str) -> NDArray[np.bool_]:
    if favourable == "approve":
        return np.asarray(decisions == "approve", dtype=bool)
    return np.asarray(decisions != "decline", dtype=bool)


def _ratio(rates: dict[str, float]) -> float | None:
    if len(rates) < 2 or max(rates.values()) == 0:
        return None
    return min(rates.values()) / max(rates.values())


def compute_compare(
    pairs: pd.DataFrame,
    inputs: pd.DataFrame | None,
    schema: FeatureSchema | None,
    settings: Settings,
    *,
    champion: tuple[str, str],
    challenger: tuple[str, str],
    window: tuple[datetime, datetime],
) -> CompareReport:
    """The report of ``pairs`` (shadow-log rows of one champion/challenger version pair);
    ``inputs`` are prediction-log rows (``decision_id`` + applicant fields) for the groups."""
    report = CompareReport(
        model_name=settings.model_name,
        champion_alias=champion[0],
        champion_version=champion[1],
        challenger_alias=challenger[0],
        challenger_version=challenger[1],
        window_start=window[0],
        window_end=window[1],
        n_pairs=len(pairs),
        min_fairness_ratio=settings.gate_min_fairness_ratio,
    )
    if pairs.empty:
        report.notes.append("no shadow pairs of these versions in the window")
        return report
    served, shadow = pairs["served_decision"], pairs["shadow_decision"]
    report.agreement_matrix = {
        a: {b: int(((served == a) & (shadow == b)).sum()) for b in DECISIONS} for a in DECISIONS
    }
    report.agreement_rate = float((served == shadow).mean())
    flips = ((served == "approve") & (shadow == "decline")) | (
        (served == "decline") & (shadow == "approve")
    )
    report.flip_rate = float(flips.mean())
    favourable = settings.gate_favourable_outcome
    a_champ, a_chall = _approved(served, favourable), _approved(shadow, favourable)
    ids = pairs["decision_id"].astype(str).to_numpy()
    swap_in, swap_out = ids[~a_champ & a_chall], ids[a_champ & ~a_chall]
    report.swap_in, report.swap_out = len(swap_in), len(swap_out)
    report.swap_in_ids = swap_in[:_MAX_LISTED].tolist()
    report.swap_out_ids = swap_out[:_MAX_LISTED].tolist()
    report.champion_approval_rate = float(a_champ.mean())
    report.challenger_approval_rate = float(a_chall.mean())
    report.approval_rate_delta = report.challenger_approval_rate - report.champion_approval_rate
    report.pd_psi = float(
        psi(pairs["served_probability"].to_numpy(), pairs["shadow_probability"].to_numpy())
    )
    if schema is None or not schema.protected:
        report.notes.append("no protected attributes declared: no group rates")
        return report
    if inputs is None or inputs.empty:
        report.notes.append("no logged inputs for these requests: no group rates")
        return report
    joined = pairs[["decision_id"]].merge(
        inputs.drop_duplicates("decision_id"), on="decision_id", how="left"
    )
    for attr in schema.protected:
        if attr.source not in joined.columns or joined[attr.source].isna().all():
            report.notes.append(f"{attr.name}: source {attr.source!r} is not in the logged inputs")
            continue
        groups = attr.groups(joined).to_numpy()
        rates_champ, rates_chall = {}, {}
        for group in sorted(set(groups)):
            mask = groups == group
            n = int(mask.sum())
            report.groups.append(
                GroupRates(
                    attribute=attr.name,
                    group=str(group),
                    n=n,
                    champion_approval=float(a_champ[mask].mean()),
                    challenger_approval=float(a_chall[mask].mean()),
                )
            )
            if n >= settings.gate_min_group_size:
                rates_champ[str(group)] = float(a_champ[mask].mean())
                rates_chall[str(group)] = float(a_chall[mask].mean())
        chall_ratio = _ratio(rates_chall)
        report.fairness.append(
            FairnessRatio(
                attribute=attr.name,
                champion_ratio=_ratio(rates_champ),
                challenger_ratio=chall_ratio,
                passes=None if chall_ratio is None else chall_ratio >= report.min_fairness_ratio,
            )
        )
    return report


def render_plots(pairs: pd.DataFrame, report: CompareReport) -> dict[str, bytes]:
    """PD scatter (champion vs challenger, same applicants)."""
    if pairs.empty:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample = pairs.sample(min(len(pairs), 5000), random_state=0)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(sample["served_probability"], sample["shadow_probability"], s=4, alpha=0.4)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"champion v{report.champion_version} PD")
    ax.set_ylabel(f"challenger v{report.challenger_version} PD")
    ax.set_title(f"PD on the same {len(pairs)} applicants (PSI {report.pd_psi:.3f})")
    from credit_scoring.evaluation.plots import png_bytes

    return {"pd_scatter.png": png_bytes(fig)}


def render_html(report: CompareReport, plots: dict[str, bytes]) -> str:
    encoded = {k: base64.b64encode(v).decode() for k, v in plots.items()}
    env = Environment(
        loader=PackageLoader("credit_scoring", "monitoring/templates"), autoescape=True
    )
    return env.get_template("compare_report.html.j2").render(
        r=report, plots=encoded, decisions=DECISIONS
    )


def run_compare(
    settings: Settings | None = None,
    champion: str = "production",
    challenger: str = "staging",
    since: datetime | None = None,
    until: datetime | None = None,
    source: Source = "auto",
    log_to_mlflow: bool = True,
) -> CompareReport:
    """Compare the two aliases' versions on the shadow pairs of ``[since, until)`` (default:
    the last monitoring window)."""
    from mlflow.exceptions import MlflowException

    settings = settings or Settings()
    end = as_utc(until) if until else datetime.now(UTC)
    start = as_utc(since) if since else end - timedelta(hours=settings.monitor_window_hours)
    registry = RegistryGateway.from_settings(settings)
    try:
        mv_champ = registry.version_by_alias(champion)
        mv_chall = registry.version_by_alias(challenger)
    except MlflowException as exc:
        raise LookupError(f"model {settings.model_name!r}: {exc.message}") from exc
    pairs = read_shadow_log(settings, start, end, source=source)
    pairs = pairs[
        (pairs["served_version"] == str(mv_champ.version))
        & (pairs["shadow_version"] == str(mv_chall.version))
    ].reset_index(drop=True)
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = registry.download_artifact(str(mv_chall.run_id), FEATURE_SCHEMA_FILE, Path(tmp))
            schema = FeatureSchema.load(path)
        except (MlflowException, OSError):
            pass
    inputs = read_prediction_log(settings, start, end, source=source) if len(pairs) else None
    report = compute_compare(
        pairs,
        inputs,
        schema,
        settings,
        champion=(champion, str(mv_champ.version)),
        challenger=(challenger, str(mv_chall.version)),
        window=(start, end),
    )
    if log_to_mlflow:
        log_compare(report, pairs, registry, str(mv_chall.run_id))
    return report


def log_compare(
    report: CompareReport, pairs: pd.DataFrame, registry: RegistryGateway, run_id: str
) -> None:
    """Report files on the challenger's training run, summary tags on its version."""
    client = registry.client
    stamp = report.generated_at.strftime("%Y%m%dT%H%M%S")
    plots = render_plots(pairs, report)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "report.json").write_text(report.to_json(), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, plots), encoding="utf-8")
        for name, data in plots.items():
            (out / name).write_bytes(data)
        client.log_artifacts(run_id, str(out), f"{COMPARE_DIR}/{stamp}")
    report.mlflow_run_id = run_id
    ratio = report.challenger_min_ratio
    registry.set_version_tags(
        report.challenger_version,
        {
            "live_compare_pairs": str(report.n_pairs),
            "live_compare_flip_rate": "" if report.flip_rate is None else f"{report.flip_rate:.6f}",
            "live_compare_min_fairness_ratio": "" if ratio is None else f"{ratio:.6f}",
            "live_compare_at": report.generated_at.isoformat(),
            "live_compare_report": f"{COMPARE_DIR}/{stamp}/report.html",
        },
    )
