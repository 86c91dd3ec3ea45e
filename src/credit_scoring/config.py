"""Settings: the one place where configuration is read from the environment.

Every setting is an environment variable. MLflow's own variables keep their standard names
(``MLFLOW_TRACKING_URI``); everything else is prefixed ``CREDIT_SCORING_``. Secrets may be given
directly or through a ``..._FILE`` variable naming a file (Kubernetes and compose secrets).

Nothing is read at import time: call :func:`get_settings` (cached) or build ``Settings()``.

Related settings are grouped in sub-models that pure functions take instead of the whole
``Settings``: ``Settings.scaling`` is the :class:`~credit_scoring.scoring.scaling.ScoreScaling`
of newly trained versions (one definition of the fields and their validation). Its environment
variables keep their flat names (``CREDIT_SCORING_PDO``, ``CREDIT_SCORING_BASE_POINTS``,
``CREDIT_SCORING_BASE_ODDS``, ``CREDIT_SCORING_APPROVE_BELOW_PD``,
``CREDIT_SCORING_DECLINE_ABOVE_PD``), and so do keyword arguments (``Settings(pdo=25)``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from credit_scoring.scoring.grades import MasterScale
from credit_scoring.scoring.scaling import ScoreScaling

SCALING_FIELDS = frozenset(ScoreScaling.model_fields)


class _FlatScalingEnv(PydanticBaseSettingsSource):
    """``CREDIT_SCORING_PDO`` etc. (flat, as before scaling was nested) into ``scaling``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads everything at once

    def __call__(self) -> dict[str, Any]:
        env = {k.lower(): v for k, v in os.environ.items()}
        found = {
            name: env[f"credit_scoring_{name}"]
            for name in sorted(SCALING_FIELDS)
            if f"credit_scoring_{name}" in env
        }
        return {"scaling": found} if found else {}


def _read_secret_file(path: str | None) -> str | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"secret file {path!r} does not exist")
    return file.read_text(encoding="utf-8").strip()


class Settings(BaseSettings):
    """All configuration of the platform (training, registry, gate, API, monitoring)."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_SCORING_", extra="ignore", populate_by_name=True
    )

    # --- MLflow ------------------------------------------------------------------------------
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_SCORING_TRACKING_URI"),
        description="MLflow tracking server URI. Unset: the embedded local store under `home`.",
    )
    home: Path = Field(
        default=Path(".credit-scoring"),
        description="Local state: embedded MLflow store (mlflow.db, artifacts/), model cache, "
        "prediction log files.",
    )
    model_name: str = Field(default="credit-scoring", description="Registered model name.")
    experiment_name: str = Field(default="credit-scoring", description="MLflow experiment.")
    registry_username: str | None = Field(
        default=None,
        description="Identity on an MLflow server with basic auth (the writer for training and "
        "promotion, the read-only identity for the API); MLFLOW_TRACKING_USERNAME also works.",
    )
    registry_password: SecretStr | None = None
    registry_password_file: str | None = None

    # --- Training ----------------------------------------------------------------------------
    training_data: str | None = Field(
        default=None,
        description="Training data file (CSV/Parquet) used when a run names none (--data, the "
        "DAG's data_path): a deployment's data location, e.g. a file on a mounted volume.",
    )
    training_target: str | None = Field(default=None, description="Target column of it.")
    training_schema: str | None = Field(default=None, description="Feature schema of it.")
    demo_data: bool = Field(
        default=True,
        description="Allow the bundled German Credit demo data when no data location is given. "
        "Deployments set it to false, so a run without a data location fails instead of "
        "silently retraining on the demo data.",
    )
    seed: int = 42
    test_size: float = Field(default=0.25, gt=0, lt=1)
    valid_size: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of the training part kept for early "
        "stopping and probability calibration.",
    )
    additive: bool = Field(
        default=True,
        description="Train an additive LightGBM (each tree splits on one feature): a feature's "
        "points depend on its own value only, reason codes are exact and the API scores from "
        "lookup tables. False allows feature interactions (reason codes from TreeSHAP).",
    )
    model_family: Literal["auto", "scorecard", "logistic", "additive", "ga2m", "lightgbm"] = Field(
        default="auto",
        description="Served model family. auto: compare every candidate by repeated CV on the "
        "training part and serve the most interpretable one within the tolerance of the best "
        "(`training.selection`); without a comparison (data above cv_max_rows) auto means "
        "additive, or lightgbm when `additive` is false.",
    )
    candidate_families: list[Literal["scorecard", "logistic", "additive", "ga2m", "lightgbm"]] = (
        Field(
            default=["scorecard", "logistic", "additive", "ga2m", "lightgbm"],
            description="Families compared; every one can be selected and served.",
        )
    )
    selection_se: float = Field(
        default=1.0, ge=0, description="Tolerance of the policy, in paired standard errors."
    )
    selection_tolerance: float = Field(
        default=0.0, ge=0, description="Absolute AUC added to the policy's tolerance."
    )
    ga2m_pairs: int = Field(default=3, ge=1, description="Interaction pairs of a GA2M model.")
    tune: bool = Field(
        default=False,
        description="Tune the selected LightGBM family with Optuna (nested in the training part).",
    )
    tune_trials: int = Field(default=30, ge=1, description="Tuning budget: trials.")
    tune_timeout_s: float = Field(default=120.0, gt=0, description="Tuning budget: seconds.")
    cv_folds: int = Field(default=5, ge=2)
    cv_repeats: int = Field(default=2, ge=1)
    cv_max_rows: int = Field(
        default=200_000, description="Cross-validation is skipped above this many rows."
    )

    # --- Score scaling and decisions (stored with each model version) ----------------------
    scaling: ScoreScaling = Field(
        default_factory=ScoreScaling,
        description="PDO scaling and decision cut-offs of newly trained versions. Env vars keep "
        "their flat names: CREDIT_SCORING_PDO, _BASE_POINTS, _BASE_ODDS, _APPROVE_BELOW_PD, "
        "_DECLINE_ABOVE_PD (see ScoreScaling for meanings and defaults).",
    )

    master_scale: MasterScale = Field(
        default_factory=MasterScale,
        description="Rating grades of newly trained versions (stored with each version as "
        'master_scale.json), JSON: {"labels": [...], "upper_bounds": [...]}; default 8 grades '
        "A-H (see scoring.grades).",
    )

    # --- Validation gate ----------------------------------------------------------------------
    gate_min_auc: float = 0.70
    gate_min_ks: float = 0.30
    gate_max_brier: float = 0.22
    gate_max_ece: float = 0.10
    gate_noninferiority_margin: float = Field(
        default=0.02,
        description="Challenger AUC may be at most this much below the champion's, judged on "
        "the confidence bound of the paired (DeLong) difference.",
    )
    gate_ks_margin: float = Field(
        default=0.05, ge=0, description="Non-inferiority margin of KS (paired bootstrap bound)."
    )
    gate_brier_margin: float = Field(
        default=0.01, ge=0, description="Non-inferiority margin of Brier (paired bootstrap bound)."
    )
    gate_statistic: Literal["point", "bound"] = Field(
        default="point",
        description="What the thresholds judge: the holdout point estimate, or the pessimistic "
        "bound of its bootstrap confidence interval (lower for AUC/KS, upper for Brier/ECE).",
    )
    gate_confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Two-sided level of the gate's intervals."
    )
    gate_bootstrap_samples: int = Field(default=500, ge=50, description="Bootstrap replicates.")
    gate_min_fairness_ratio: float = Field(
        default=0.8, description="Four-fifths rule on approval rates."
    )
    gate_block_on_raw_ratio: bool = Field(
        default=False,
        description="Fail the gate on the raw four-fifths ratio too (default: warn; the ratio "
        "among non-defaulters always blocks).",
    )
    gate_favourable_outcome: Literal["not_declined", "approve"] = Field(
        default="not_declined",
        description="Outcome counted as approval in fairness ratios (review = manual "
        "underwriting, not a rejection).",
    )
    gate_min_group_size: int = Field(
        default=30, description="Groups smaller than this are reported, not judged."
    )
    gate_max_psi: float = 0.25
    gate_require_live_compare: bool = Field(
        default=False,
        description="Promotion to production also requires evidence from live traffic "
        "(credit-scoring compare on the shadow pairs, summarised in the version's tags): at "
        "least gate_live_min_pairs pairs, flip rate at most gate_live_max_flip_rate, "
        "four-fifths rule on live applicants. Checked by promote (CLI, promotion DAG), not by "
        "the validation gate: a freshly trained version has no shadow traffic yet. The first "
        "promotion (no production version to compare with) is exempt.",
    )
    gate_live_min_pairs: int = Field(default=1000, ge=1)
    gate_live_max_flip_rate: float = Field(default=0.05, ge=0, le=1)

    # --- Scoring API --------------------------------------------------------------------------
    serve_alias: str = Field(default="production", description="Alias the API serves.")
    api_keys: SecretStr | None = Field(default=None, description="Comma-separated API keys.")
    api_keys_file: str | None = None
    admin_api_key: SecretStr | None = None
    admin_api_key_file: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_file: str | None = None
    officer_api_keys: SecretStr | None = Field(
        default=None, description="Comma-separated loan-officer keys (score, review, workbench)."
    )
    officer_api_keys_file: str | None = None
    auditor_api_keys: SecretStr | None = Field(
        default=None, description="Comma-separated auditor keys (read decisions, workbench)."
    )
    auditor_api_keys_file: str | None = None
    ui_session_secret: SecretStr | None = Field(
        default=None,
        description="Key signing workbench session cookies; unset: a random key per process "
        "(sessions end when the API restarts; set it when running several replicas).",
    )
    ui_session_secret_file: str | None = None
    ui_session_hours: float = Field(default=8.0, gt=0, description="Workbench session lifetime.")
    ui_sign_in_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed workbench sign-ins from one client address before it is locked out.",
    )
    ui_sign_in_lockout_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Window counting failed sign-ins, and how long a locked-out address waits.",
    )
    lender_name: str = Field(
        default="Credit department", description="Lender named on adverse action notices."
    )
    auth_disabled: bool = Field(
        default=False, description="Serve without API keys (local use only)."
    )
    reload_interval_s: float = Field(default=10.0, gt=0)
    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    max_reasons: int = Field(default=4, ge=0)
    log_applicant_fields: bool = False
    api_schema_path: Path | None = Field(
        default=None,
        description="Feature schema (YAML/JSON) the API validates requests against; a served "
        "version must match it. Default: the bundled German Credit schema.",
    )
    api_opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry instrumentation (traces, metrics and logs to "
        "the OpenTelemetry providers configured in the process).",
    )
    shadow_alias: str | None = Field(
        default=None,
        description="Alias of a challenger version the API also scores live traffic with, after "
        "the response is sent (logged beside the served record, never returned); unset or "
        "empty: off.",
    )
    shadow_fraction: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests also scored by the shadow."
    )
    api_log_level: str = Field(default="INFO", description="Log level of the scoring API.")
    api_score_psi_window: int = Field(
        default=1000,
        ge=10,
        description="Scores of the served version the API keeps (the most recent, per process) "
        "for its live score PSI gauge `credit_scoring_score_psi`.",
    )
    api_score_psi_min_scores: int = Field(
        default=200,
        ge=10,
        description="The score PSI gauge is exported once the window holds this many scores (at "
        "most `api_score_psi_window`); fewer would make PSI mostly sampling noise.",
    )
    api_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A connection whose request headers are not complete within this is "
        "answered 408 and closed (slow clients; `credit-scoring serve`).",
    )
    api_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request body not received within this (plus at most a tenth of it, "
        "1 s at most) gets 408.",
    )
    api_graceful_shutdown_s: float = Field(
        default=15.0,
        ge=1,
        description="After SIGTERM, in-flight requests get this long (uvicorn's "
        "timeout_graceful_shutdown) before the ledger's shutdown timeout starts.",
    )
    model_cache_dir: Path | None = Field(default=None, description="Default: <home>/model-cache.")
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL for the prediction log; unset: local files."
    )
    database_url_file: str | None = None

    # --- Decision ledger (the prediction log; see docs/architecture.md) ----------------------
    ledger_retention_days: int = Field(
        default=761,
        ge=183,
        description="Ledger entries older than this are deleted by `credit-scoring ledger purge` "
        "(at least 6 months: EU AI Act Art. 19/26(6) log retention; the default, 25 months, "
        "also covers Reg B's record retention for adverse action notices).",
    )
    ledger_dir: Path | None = Field(
        default=None,
        description="Directory of the embedded ledger (ledger.db) and of the default spool "
        "(ledger-spool/); default <home>. Put it on a persistent volume.",
    )
    ledger_spool_dir: Path | None = Field(
        default=None,
        description="Local spool the API writes decision records to before answering "
        "(default <home>/ledger-spool; a persistent volume in Kubernetes).",
    )
    ledger_spool_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 16,
        description="Unshipped records the spool may hold (database down) before the policy "
        "applies.",
    )
    ledger_spool_segment_bytes: int = Field(default=8 << 20, ge=1 << 12)
    ledger_fsync_interval_s: float = Field(
        default=0.05,
        gt=0,
        description="Spool fsync period: the most a host power loss can lose (a process crash "
        "loses nothing).",
    )
    ledger_full_policy: Literal["reject", "drop"] = Field(
        default="reject",
        description="Spool full or disk error: 'reject' answers 503 without a decision; 'drop' "
        "answers and counts and logs each lost record.",
    )
    ledger_ship_batch: int = Field(default=1000, ge=1)
    ledger_shipper: Literal["process", "thread"] = Field(
        default="process",
        description="Where the API ships its spool to the ledger: 'process' (a child process; "
        "the serving process only writes the spool) or 'thread' (a thread of the API process, "
        "which then shares the GIL with scoring; for platforms without child processes).",
    )
    ledger_shutdown_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="At shutdown, time the shipper gets to ship the rest of the spool (what is "
        "left is shipped by the next process). Keep the sum of uvicorn's graceful timeout and "
        "this below Kubernetes' terminationGracePeriodSeconds.",
    )

    # --- Monitoring (drift of the live prediction log against the training reference) -------
    monitor_window_hours: float = Field(
        default=24.0, gt=0, description="Length of the window of predictions checked for drift."
    )
    monitor_min_rows: int = Field(
        default=200, ge=1, description="Smaller windows are reported as insufficient data."
    )
    monitor_psi_threshold: float = Field(
        default=0.25, gt=0, description="PSI (score or any feature) at or above this is drift."
    )
    monitor_max_unseen_share: float = Field(
        default=0.05, ge=0, le=1, description="Share of unseen categories above this is drift."
    )
    monitor_max_decision_rate_change: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Absolute change of any decision's rate above this (and significant) is drift.",
    )

    # --- Outcomes and backtesting ---------------------------------------------------------------
    outcome_window_days: int = Field(
        default=365,
        ge=1,
        description="Performance window of the PDs: outcomes observed later than this after the "
        "decision are rejected as late.",
    )
    backtest_amber_below: float = Field(
        default=0.05, gt=0, lt=1, description="Backtest p-value below this: amber (95% level)."
    )
    backtest_red_below: float = Field(
        default=0.001, gt=0, lt=1, description="Backtest p-value below this: red (99.9% level)."
    )
    backtest_min_outcomes: int = Field(
        default=100, ge=1, description="Fewer decisions with outcomes: insufficient data."
    )
    backtest_max_estimated_auc_drop: float = Field(
        default=0.05,
        ge=0,
        description="Alert when the estimated AUC (CBPE) of recent decisions falls more than "
        "this below the version's holdout AUC.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _FlatScalingEnv(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @model_validator(mode="before")
    @classmethod
    def _nest_scaling(cls, data: Any) -> Any:
        """Flat keyword arguments (``Settings(pdo=25)``) go into ``scaling`` and win over env."""
        if not isinstance(data, dict) or not SCALING_FIELDS & data.keys():
            return data
        data = dict(data)
        nested = data.get("scaling")
        merged = nested.model_dump() if isinstance(nested, ScoreScaling) else dict(nested or {})
        merged.update({k: data.pop(k) for k in SCALING_FIELDS & data.keys()})
        data["scaling"] = merged
        return data

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("shadow_alias", mode="after")
    @classmethod
    def _empty_shadow_is_off(cls, value: str | None) -> str | None:
        # docker compose passes an unset variable as "" (CREDIT_SCORING_SHADOW_ALIAS: ${...:-}).
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _score_psi_window_holds_the_minimum(self) -> Settings:
        if self.api_score_psi_min_scores > self.api_score_psi_window:
            raise ValueError(
                f"api_score_psi_min_scores ({self.api_score_psi_min_scores}) must not exceed "
                f"api_score_psi_window ({self.api_score_psi_window}): the gauge would never show"
            )
        return self

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        for name in (
            "api_keys",
            "admin_api_key",
            "webhook_secret",
            "database_url",
            "officer_api_keys",
            "auditor_api_keys",
            "ui_session_secret",
            "registry_password",
        ):
            if getattr(self, name) is None:
                value = _read_secret_file(getattr(self, f"{name}_file"))
                if value:
                    setattr(self, name, SecretStr(value))
        return self

    # --- Derived values -----------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True when no tracking server is configured (local SQLite store)."""
        return not self.tracking_uri

    @property
    def resolved_tracking_uri(self) -> str:
        """The tracking URI actually used (embedded SQLite store when none is set)."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str | None:
        """Artifact root for new experiments in the embedded store (server decides otherwise)."""
        return (self.home / "artifacts").as_uri() if self.embedded else None

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.home / "model-cache"

    @property
    def resolved_ledger_spool_dir(self) -> Path:
        return self.ledger_spool_dir or (self.ledger_dir or self.home) / "ledger-spool"

    @property
    def ledger_path(self) -> Path:
        """The embedded decision ledger (SQLite) used when no database URL is set."""
        return (self.ledger_dir or self.home) / "ledger.db"

    def api_key_list(self) -> list[str]:
        """Scoring API keys (empty when none configured)."""
        return _key_list(self.api_keys)

    def officer_key_list(self) -> list[str]:
        return _key_list(self.officer_api_keys)

    def auditor_key_list(self) -> list[str]:
        return _key_list(self.auditor_api_keys)


def _key_list(secret: SecretStr | None) -> list[str]:
    if secret is None:
        return []
    return [k.strip() for k in secret.get_secret_value().split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
