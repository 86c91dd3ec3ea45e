"""The training pipeline: validate -> split -> train -> calibrate -> evaluate -> log -> register.

Data are validated before MLflow is touched, so bad data logs and registers nothing. The model
version is registered as the very last step of a run that holds every artifact; if anything fails
before, the run is marked FAILED and no version exists.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models.model import ModelInfo
from sklearn.model_selection import train_test_split

from credit_scoring.config import Settings, get_settings
from credit_scoring.data.fingerprint import ARTIFACT_DIR, ARTIFACT_FILE, row_fingerprints
from credit_scoring.data.inference import infer
from credit_scoring.data.io import (
    GERMAN_CREDIT,
    bundled_path,
    german_credit_schema,
    load_german_credit,
    read_table,
)
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.data.validation import ValidatedData, validate_training_frame
from credit_scoring.evaluation import plots
from credit_scoring.evaluation.metrics import classification_metrics
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.registry import gateway as run_artifacts
from credit_scoring.registry.gateway import IDEMPOTENCY_TAG, RegistryGateway
from credit_scoring.registry.tracking import configure_mlflow
from credit_scoring.scoring.additive import AdditiveTables
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.pyfunc import CreditScoringPyfunc
from credit_scoring.scoring.signature import model_signature
from credit_scoring.training.candidates import TrainingData
from credit_scoring.training.lgbm import (
    lgbm_params,
)
from credit_scoring.training.scorecard import fit_scorecard, scorecard_pd, scorecard_table
from credit_scoring.training.selection import Choice, choose_and_fit, selection_plot
from credit_scoring.training.splits import holdout_split

log = logging.getLogger(__name__)

REFERENCE_ROWS = 10_000
SHAP_ROWS = 2_000

#: Called with a short description as each step of a training run starts. The caller owns the
#: display (the CLI: a Rich spinner on a terminal, plain lines otherwise); the default writes a
#: log line, which is what Airflow task logs get.
StepCallback = Callable[[str], None]


def log_step(text: str) -> None:
    """The default :data:`StepCallback`: one INFO log line per step."""
    log.info("%s", text)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    version: int
    metrics: dict[str, float] = field(default_factory=dict)
    reused: bool = False


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset with its schema and where it came from."""

    frame: pd.DataFrame
    schema: FeatureSchema
    source: str
    name: str


def load_dataset(
    data_path: str | Path | None = None,
    target: str | None = None,
    schema_path: str | Path | None = None,
    use_columns: Sequence[str] = (),
) -> Dataset:
    """Load the bundled German Credit data, or a user file with a declared or inferred schema.

    An inferred schema leaves out protected-looking columns, ids, dates, constants and likely
    leaks (``data.inference``) and prints what it left out; ``use_columns`` opts columns back in.
    """
    if data_path is None:
        frame = load_german_credit()
        schema = FeatureSchema.load(schema_path) if schema_path else german_credit_schema()
        return Dataset(frame, schema, str(bundled_path(GERMAN_CREDIT)), "german_credit")
    frame = read_table(data_path)
    if schema_path:
        schema = FeatureSchema.load(schema_path)
        if target and target != schema.target.name:
            raise ValueError(
                f"--target {target!r} differs from the schema's target {schema.target.name!r}"
            )
    else:
        if not target:
            raise ValueError("--target is required when no --schema is given")
        inference = infer(frame, target, use=use_columns)
        if inference.findings:
            log.warning("%s", inference.notice())  # printed on stderr by the CLI
        schema = inference.schema
    return Dataset(frame, schema, str(Path(data_path).resolve()), Path(data_path).stem)


def find_version_by_key(settings: Settings, key: str) -> tuple[int, str] | None:
    """A registered version created with idempotency ``key`` (version, run id), if any."""
    found = RegistryGateway.from_settings(settings).versions_with_tag(IDEMPOTENCY_TAG, key)
    if not found:
        return None
    best = max(found, key=lambda v: int(v.version))
    return int(best.version), str(best.run_id)


def data_location(
    settings: Settings,
    data_path: str | Path | None = None,
    target: str | None = None,
    schema_path: str | Path | None = None,
) -> tuple[str | Path | None, str | None, str | Path | None]:
    """The (data, target, schema) a run trains on: the given file, else the configured one
    (``training_data``); None (the bundled demo data) only where ``demo_data`` allows it."""
    if data_path is None and settings.training_data:
        data_path = settings.training_data
        target = target or settings.training_target
        schema_path = schema_path or settings.training_schema
    if data_path is None and not settings.demo_data:
        raise ValueError(
            "no training data location: pass --data (DAG param data_path) or set "
            "CREDIT_SCORING_TRAINING_DATA; the bundled demo data is disabled here "
            "(CREDIT_SCORING_DEMO_DATA=false)"
        )
    return data_path, target, schema_path


def train(
    data_path: str | Path | None = None,
    target: str | None = None,
    schema_path: str | Path | None = None,
    settings: Settings | None = None,
    idempotency_key: str | None = None,
    register: bool = True,
    on_step: StepCallback | None = None,
    use_columns: Sequence[str] = (),
) -> TrainResult:
    """Train, evaluate, log and register a new model version; see the module docstring.

    ``on_step`` reports progress (see :data:`StepCallback`; default :func:`log_step`).
    """
    settings = settings or get_settings()
    dataset = load_dataset(
        *data_location(settings, data_path, target, schema_path), use_columns=use_columns
    )
    data = validate_training_frame(dataset.frame, dataset.schema, source=dataset.source)
    experiment_id = configure_mlflow(settings)
    if idempotency_key:
        existing = find_version_by_key(settings, idempotency_key)
        if existing:
            log.info("idempotency key %s already produced version %s", idempotency_key, existing[0])
            return TrainResult(run_id=existing[1], version=existing[0], reused=True)
    return _train_and_log(
        dataset, data, settings, experiment_id, on_step or log_step, idempotency_key, register
    )


def _train_and_log(
    dataset: Dataset,
    data: ValidatedData,
    settings: Settings,
    experiment_id: str,
    step: StepCallback,
    idempotency_key: str | None,
    register: bool,
) -> TrainResult:
    schema = dataset.schema
    scaling = settings.scaling
    encoder = FeatureEncoder(schema)
    x_all = encoder.encode_frame(data.features)
    y_all = data.target.to_numpy()
    step(f"Splitting {len(y_all):,} rows (test {settings.test_size:.0%})")
    train_idx, test_idx, split_kind = holdout_split(
        dataset.frame, y_all, schema, settings.test_size, settings.seed
    )
    fit_idx, valid_idx = train_test_split(
        train_idx,
        test_size=settings.valid_size,
        stratify=y_all[train_idx],
        random_state=settings.seed,
    )

    candidates = TrainingData(
        schema,
        encoder,
        x_all,
        data.features,
        y_all,
        settings.seed,
        settings.valid_size,
        scaling,
        settings.ga2m_pairs,
    )
    compare = len(y_all) <= settings.cv_max_rows
    if compare:
        step(f"Comparing model families ({settings.cv_repeats}x{settings.cv_folds} folds)")
    choice = choose_and_fit(
        candidates,
        train_idx,
        (fit_idx, valid_idx),
        family=settings.model_family,
        fallback="additive" if settings.additive else "lightgbm",
        compare=compare,
        families=settings.candidate_families,
        folds=settings.cv_folds,
        repeats=settings.cv_repeats,
        se_multiplier=settings.selection_se,
        tolerance=settings.selection_tolerance,
        tune_budget=(settings.tune_trials, settings.tune_timeout_s) if settings.tune else None,
        progress=step,
    )
    booster, calibration = choice.booster, choice.calibration
    # Raw values as the user's data holds them (integers stay integers): the logged input example
    # must pass the signature as it is, and so does the smoke test.
    raw = dataset.frame.reset_index(drop=True)
    example = _input_example(raw.loc[test_idx[:5], [c for c in schema.feature_names if c in raw]])
    model = CreditModel(
        booster, schema, scaling, calibration, example, master_scale=settings.master_scale
    )
    p_test = model.predict_proba_matrix(x_all[test_idx])
    metrics = {f"test_{k}": v for k, v in classification_metrics(y_all[test_idx], p_test).items()}

    step("Training the WoE scorecard (optbinning)")
    card = choice.card or fit_scorecard(
        schema, data.features.iloc[fit_idx], y_all[fit_idx], scaling
    )
    p_card = scorecard_pd(card, data.features.iloc[test_idx])
    metrics.update(
        {
            f"scorecard_test_{k}": v
            for k, v in classification_metrics(y_all[test_idx], p_card).items()
        }
    )

    metrics.update(choice.cv)
    if choice.selection is not None:
        metrics.update(choice.selection.metrics())

    step("Plotting and logging to MLflow")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        try:
            mlflow.set_tag("holdout_split", split_kind)
            info = _log_run(
                dataset,
                data,
                settings,
                model,
                card,
                metrics,
                train_idx,
                test_idx,
                x_all,
                p_test,
                p_card,
            )
            _log_choice(choice)
            version = None
            if register:
                step(f"Registering a new version of {settings.model_name!r}")
                version = _register(settings, info, idempotency_key, dataset)
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
    return TrainResult(run_id=run.info.run_id, version=version or 0, metrics=metrics)


def _input_example(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame.to_dict(orient="records")
    return [{str(k): (None if pd.isna(v) else v) for k, v in r.items()} for r in records]


def _log_run(
    dataset: Dataset,
    data: ValidatedData,
    settings: Settings,
    model: CreditModel,
    card: Any,
    metrics: dict[str, float],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    x_all: np.ndarray,
    p_test: np.ndarray,
    p_card: np.ndarray,
) -> ModelInfo:
    schema, scaling = model.schema, model.scaling
    y_all = data.target.to_numpy()
    y_test = y_all[test_idx]
    booster = model.booster
    mlflow.set_tags(
        {
            "model_type": "lightgbm+platt",
            "dataset": dataset.name,
            "dataset_source": dataset.source,
        }
    )
    params = {
        k: v
        for k, v in lgbm_params(
            schema, settings.seed, len(train_idx), additive=settings.additive
        ).items()
        if k not in ("monotone_constraints", "interaction_constraints", "additive")
    }
    params.update(
        {
            "best_iteration": booster.best_iteration,
            "n_rows": len(y_all),
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "default_rate": round(float(y_all.mean()), 6),
            "n_features": len(schema.features),
            "monotone_features": ",".join(f.name for f in schema.features if f.monotone) or "none",
            "additive": isinstance(model.tables, AdditiveTables),
            "calibration": "platt",
            "calibration_slope": model.calibration.slope,
            "calibration_intercept": model.calibration.intercept,
            **{f"scaling_{k}": v for k, v in scaling.model_dump().items()},
        }
    )
    mlflow.log_params(params)
    mlflow.log_metrics(metrics)

    source_frame = dataset.frame.reset_index(drop=True)
    with warnings.catch_warnings():
        # MLflow registers two equivalent resolvers for local paths and warns that it picked one.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
        ds = mlflow.data.from_pandas(  # type: ignore[attr-defined]
            source_frame, source=dataset.source, targets=schema.target.name, name=dataset.name
        )
    mlflow.log_input(ds, context="training")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / run_artifacts.FEATURE_SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")
        (root / run_artifacts.SCALING_FILE).write_text(json.dumps(scaling.model_dump(), indent=2))
        mlflow.log_artifact(str(root / run_artifacts.FEATURE_SCHEMA_FILE))
        mlflow.log_artifact(str(root / run_artifacts.SCALING_FILE))
        (root / run_artifacts.MASTER_SCALE_FILE).write_text(
            json.dumps(model.master_scale.model_dump(mode="json"), indent=2)
        )
        mlflow.log_artifact(str(root / run_artifacts.MASTER_SCALE_FILE))

        # Holdout: original columns of the test rows (target, protected sources included).
        holdout = source_frame.iloc[test_idx]
        _log_parquet(holdout, root / run_artifacts.HOLDOUT_FILE, run_artifacts.HOLDOUT_DIR)
        # Which rows trained this model, as hashes: the gate keeps them out of comparisons.
        np.save(root / ARTIFACT_FILE, row_fingerprints(x_all[train_idx], y_all[train_idx]))
        mlflow.log_artifact(str(root / ARTIFACT_FILE), ARTIFACT_DIR)

        # Drift reference: a sample of training rows with the model's outputs.
        ref_idx = train_idx[:REFERENCE_ROWS]
        ref = data.features.iloc[ref_idx].reset_index(drop=True).copy()
        ref_pd = model.predict_proba_matrix(x_all[ref_idx])
        ref["probability"] = ref_pd
        ref["score"] = scaling.points(ref_pd)
        ref["decision"] = scaling.decisions(ref_pd)
        _log_parquet(ref, root / run_artifacts.REFERENCE_FILE, run_artifacts.REFERENCE_DIR)
        # Its scores alone for the scoring API's live PSI (the serving image reads no Parquet).
        np.save(root / run_artifacts.REFERENCE_SCORES_FILE, ref["score"].to_numpy(dtype=float))
        mlflow.log_artifact(
            str(root / run_artifacts.REFERENCE_SCORES_FILE), run_artifacts.REFERENCE_DIR
        )

        scorecard_table(card).to_csv(root / run_artifacts.SCORECARD_TABLE_FILE, index=False)
        mlflow.log_artifact(
            str(root / run_artifacts.SCORECARD_TABLE_FILE), run_artifacts.SCORECARD_DIR
        )

        plot_dir = root / run_artifacts.PLOTS_DIR
        shap_idx = test_idx[:SHAP_ROWS]
        # the served contributions: lookup tables when the model has them (LightGBM's
        # pred_contrib ignores the linear leaves of a compiled logistic regression)
        contrib = (
            model.tables.contrib_matrix(x_all[shap_idx])
            if model.tables is not None
            else np.asarray(booster.predict(x_all[shap_idx], pred_contrib=True))
        )[:, :-1]
        points = scaling.points(p_test)
        cutoffs = (
            float(scaling.points(scaling.decline_above_pd)),
            float(scaling.points(scaling.approve_below_pd)),
        )
        curves = {"LightGBM": p_test, "Scorecard": p_card}
        plots.save(plots.roc_plot(y_test, curves), plot_dir / "roc.png")
        plots.save(plots.calibration_plot(y_test, curves), plot_dir / "calibration.png")
        plots.save(plots.ks_plot(y_test, p_test), plot_dir / "ks.png")
        plots.save(
            plots.score_distribution_plot(y_test, points, cutoffs),
            plot_dir / "score_distribution.png",
        )
        shap_frame = pd.DataFrame(x_all[shap_idx], columns=schema.feature_names)
        plots.save(plots.shap_summary_plot(contrib, shap_frame), plot_dir / "shap_summary.png")
        if isinstance(model.tables, AdditiveTables):
            # Points per log-odds of default: risk up means points down.
            per_log_odds = -scaling.factor * model.calibration.slope
            plots.save(
                plots.feature_effects_plot(model.tables, schema, x_all[train_idx], per_log_odds),
                plot_dir / "feature_effects.png",
            )
        mlflow.log_artifacts(str(plot_dir), run_artifacts.PLOTS_DIR)

        model_dir = root / "model-files"
        artifacts = model.save_artifacts(model_dir)
        example = pd.DataFrame(model.input_example, columns=schema.feature_names)
        signature = model_signature(schema, source_frame)
        return mlflow.pyfunc.log_model(
            name=run_artifacts.MODEL_ARTIFACT,
            # Declared, not inferred: inference loads the model in a subprocess (seconds).
            pip_requirements=_requirements(),
            python_model=CreditScoringPyfunc(),
            artifacts=artifacts,
            signature=signature,
            input_example=example,
        )


def _requirements() -> list[str]:
    """Pinned runtime requirements of the logged pyfunc (this package is installed alongside)."""
    from importlib.metadata import version

    return [
        f"{dist}=={version(dist)}"
        for dist in ("mlflow", "lightgbm", "numpy", "pandas", "pydantic", "pyyaml", "scikit-learn")
    ]


def _log_parquet(frame: pd.DataFrame, path: Path, artifact_dir: str) -> None:
    frame.to_parquet(path, index=False)
    mlflow.log_artifact(str(path), artifact_dir)


def _register(
    settings: Settings, info: ModelInfo, idempotency_key: str | None, dataset: Dataset
) -> int:
    tags = {"dataset": dataset.name, run_artifacts.VALIDATION_STATUS_TAG: "pending"}
    if idempotency_key:
        tags[IDEMPOTENCY_TAG] = idempotency_key
    mv = mlflow.register_model(info.model_uri, settings.model_name, tags=tags)
    return int(mv.version)


def _log_choice(choice: Choice) -> None:
    """The served family, its pairs and the comparison (table, plot, reason) in the run."""
    mlflow.set_tags(
        {
            "model_family": choice.family,
            "model_type": {
                "scorecard": "woe-scorecard as additive lightgbm",
                "logistic": "logistic regression as additive lightgbm (linear leaves)",
            }.get(choice.family, f"lightgbm-{choice.family}+platt"),
        }
    )
    mlflow.log_params(
        {
            "model_family": choice.family,
            "ga2m_pairs": "; ".join(f"{a} x {b}" for a, b in choice.pairs) or "none",
        }
    )
    if choice.tuned is not None:
        mlflow.log_params({f"tuned_{k}": v for k, v in choice.tuned.params.items()})
        mlflow.log_metrics(
            {
                "tune_inner_cv_auc": choice.tuned.inner_auc,
                "tune_default_inner_cv_auc": choice.tuned.default_auc,
                "tune_trials": choice.tuned.trials,
            }
        )
    if choice.selection is None:
        return
    mlflow.log_param("selection_reason", choice.selection.reason[:6000])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        choice.selection.table.to_csv(root / "candidates.csv", index=False)
        choice.selection.fold_auc.to_csv(root / "fold_auc.csv", index=False)
        mlflow.log_artifact(str(root / "candidates.csv"), "selection")
        mlflow.log_artifact(str(root / "fold_auc.csv"), "selection")
        plots.save(selection_plot(choice.selection), root / "model_choice.png")
        mlflow.log_artifact(str(root / "model_choice.png"), run_artifacts.PLOTS_DIR)
