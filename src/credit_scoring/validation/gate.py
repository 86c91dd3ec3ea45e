"""The validation gate: decide whether a registered version may serve.

``validate_version(N)`` recomputes the holdout metrics from the registered artifact (never
trusting logged numbers) with bootstrap confidence intervals beside the run's cross-validated
estimate, compares with the production champion by a paired test on holdout rows neither model
trained on (``validation.champion``), measures
fairness and stability, smoke-tests the logged model through ``mlflow.pyfunc``, writes a JSON
report and an HTML model card to the run, tags the version, and on a pass moves alias ``staging``.
A failed gate tags ``validation_status=failed`` and moves no alias.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from credit_scoring.config import Settings, get_settings
from credit_scoring.data.validation import validate_training_frame
from credit_scoring.evaluation.metrics import classification_metrics
from credit_scoring.evaluation.statistics import bootstrap_intervals
from credit_scoring.registry.gateway import (
    HOLDOUT,
    PLOTS_DIR,
    REFERENCE,
    VALIDATION_DIR,
    VALIDATION_STATUS_TAG,
    RegistryGateway,
)
from credit_scoring.registry.promotion import STAGING, now_iso
from credit_scoring.registry.tracking import configure_mlflow
from credit_scoring.scoring.model import CreditModel, ModelLoadError
from credit_scoring.validation.champion import compare_with_champion
from credit_scoring.validation.checks import (
    Check,
    fairness_checks,
    stability_check,
    threshold_checks,
)
from credit_scoring.validation.report import render_model_card

log = logging.getLogger(__name__)


class GateError(RuntimeError):
    """The gate could not run at all (unknown version, missing artifacts)."""


@dataclass
class GateReport:
    """Outcome of the gate for one version."""

    model_name: str
    version: int
    run_id: str
    passed: bool
    checks: list[Check]
    metrics: dict[str, float]
    fairness: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    champion_version: int | None = None
    validated_at: str = ""
    data_summary: dict[str, Any] = field(default_factory=dict)
    #: Bootstrap confidence intervals of the holdout metrics.
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The training run's cross-validated estimates (``cv_<metric>_mean``/``_std``).
    cv: dict[str, float] = field(default_factory=dict)
    #: The champion comparison (rows compared, rows dropped, paired differences).
    champion: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.failed]

    @property
    def warnings(self) -> list[str]:
        return [c.name for c in self.checks if c.warning]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "passed": self.passed,
            "validated_at": self.validated_at,
            "failed_checks": self.failed_checks,
            "warnings": self.warnings,
            "champion_version": self.champion_version,
            "metrics": self.metrics,
            "checks": [c.as_dict() for c in self.checks],
            "fairness": self.fairness,
            "data_summary": self.data_summary,
            "intervals": self.intervals,
            "cv": self.cv,
            "champion": self.champion,
        }


def _latest_version(registry: RegistryGateway) -> int:
    latest = registry.latest_version()
    if latest is None:
        raise GateError(f"model {registry.model_name!r} has no registered version; train first")
    return latest


def _load_model(registry: RegistryGateway, version: int, dst: Path) -> tuple[CreditModel, Path]:
    """Download a version's model directory and load it; returns the model and the directory."""
    model_dir = registry.download_model(version, dst)
    return CreditModel.from_dir(model_dir), model_dir


def _smoke_check(model_dir: Path, model: CreditModel) -> Check:
    """The logged pyfunc (the downloaded version) loads through MLflow and scores its example."""
    try:
        model.smoke_test()
        pyfunc = mlflow.pyfunc.load_model(str(model_dir))
        example = pd.DataFrame(model.input_example, columns=model.schema.feature_names)
        out = pyfunc.predict(example)
        # What the API computes: one applicant per request, with reason codes (lookup tables
        # for an additive model), against the pyfunc's plain booster prediction.
        expected = [model.score([row])[0].probability for row in model.input_example]
        if not np.allclose(out["probability"].to_numpy(), expected, atol=1e-9):
            raise ModelLoadError("pyfunc and fast-path probabilities differ")
        detail, ok = f"pyfunc and fast path scored {len(example)} example rows identically", True
    except Exception as exc:  # any failure to load or score is a gate failure, with its reason
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check("model loads and scores its input example", "smoke", ok, None, None, detail)


def validate_version(version: int | None = None, settings: Settings | None = None) -> GateReport:
    """Run the gate on ``version`` (default: the latest); see the module docstring."""
    settings = settings or get_settings()
    configure_mlflow(settings)
    registry = RegistryGateway.from_settings(settings)
    name = settings.model_name
    version = version or _latest_version(registry)
    try:
        mv = registry.version(version)
    except MlflowException as exc:
        raise GateError(f"model {name!r} has no version {version}") from exc
    run_id = str(mv.run_id)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            model, model_dir = _load_model(registry, version, root / "model")
            holdout = pd.read_parquet(registry.download_artifact(run_id, HOLDOUT, root))
            reference = pd.read_parquet(registry.download_artifact(run_id, REFERENCE, root))
        except (MlflowException, ModelLoadError, OSError) as exc:
            raise GateError(f"version {version}: cannot load its artifacts: {exc}") from exc
        data = validate_training_frame(holdout, model.schema, source=f"holdout of v{version}")
        y = data.target.to_numpy()
        p = model.predict_proba_matrix(model.encoder.encode_frame(data.features))
        metrics = classification_metrics(y, p)
        intervals = bootstrap_intervals(
            y,
            p,
            n_boot=settings.gate_bootstrap_samples,
            level=settings.gate_confidence,
            seed=settings.seed,
        )
        run = registry.client.get_run(run_id)
        cv = {k: v for k, v in run.data.metrics.items() if k.startswith("cv_")}
        checks = [_smoke_check(model_dir, model)]
        checks += threshold_checks(metrics, settings, intervals, cv)
        comparison = compare_with_champion(registry, settings, version, holdout, y, p, root)
        champ_version = comparison.champion_version
        checks += comparison.checks
        decisions = model.scaling.decisions(p)
        approved = (
            decisions == "approve"
            if settings.gate_favourable_outcome == "approve"
            else decisions != "decline"
        )
        fair_checks, fairness = fairness_checks(approved, y, data.protected, settings)
        checks += fair_checks
        checks.append(
            stability_check(reference["score"].to_numpy(), model.scaling.points(p), settings)
        )
        report = GateReport(
            model_name=name,
            version=version,
            run_id=run_id,
            passed=not any(c.failed for c in checks),
            checks=checks,
            metrics=metrics,
            fairness=fairness,
            champion_version=champ_version,
            intervals={k: v.as_dict() for k, v in intervals.items()},
            cv={k: v for k, v in cv.items() if k.endswith(("_mean", "_std"))},
            champion=comparison.as_dict(),
            validated_at=now_iso(),
            data_summary={
                "holdout_rows": len(y),
                "holdout_split": run.data.tags.get("holdout_split", "stratified random"),
                "holdout_default_rate": float(y.mean()),
                "favourable_outcome": settings.gate_favourable_outcome,
                "approve_rate": float((decisions == "approve").mean()),
                "decline_rate": float((decisions == "decline").mean()),
                "n_features": len(model.schema.features),
                "protected_attributes": list(data.protected.columns),
            },
        )
        _publish(registry, report, model, root)
    return report


def _publish(registry: RegistryGateway, report: GateReport, model: CreditModel, root: Path) -> None:
    """Log report and model card to the run, tag the version, move ``staging`` on a pass."""
    mc = registry.client
    out = root / VALIDATION_DIR
    out.mkdir()
    (out / "report.json").write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    plots_dir = root / PLOTS_DIR
    try:
        registry.download_artifact(report.run_id, PLOTS_DIR, root)
    except MlflowException:
        log.warning("run %s has no plots; the model card will have none", report.run_id)
    run = mc.get_run(report.run_id)
    (out / "model_card.html").write_text(
        render_model_card(report.as_dict(), model, run.data.params, run.data.metrics, plots_dir),
        encoding="utf-8",
    )
    mc.log_artifacts(report.run_id, str(out), VALIDATION_DIR)
    status = "passed" if report.passed else "failed"
    tags = {
        VALIDATION_STATUS_TAG: status,
        "validated_at": report.validated_at,
        "gate_failed_checks": ", ".join(report.failed_checks)[:4000] or "none",
        "gate_warnings": ", ".join(report.warnings)[:4000] or "none",
        "gate_auc": f"{report.metrics['auc']:.4f}",
        "gate_ks": f"{report.metrics['ks']:.4f}",
    }
    registry.set_version_tags(report.version, tags)
    if report.passed:
        registry.set_alias(STAGING, report.version)
