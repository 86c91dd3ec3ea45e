"""The registered model a portfolio job scores with, loaded exactly as the API loads it.

The version comes from the registry (an alias, ``production`` by default, or a version number),
resolved and downloaded through :class:`~credit_scoring.registry.gateway.RegistryGateway` like
the API's model source, and loaded with :meth:`CreditModel.from_dir` (the
API's loader: booster, calibration, scaling, schema, signature check, additive lookup tables),
then smoke-tested on its input example like every version the API swaps in. The two artifact
files are kept as text too, so the Spark engine can ship the very same model to its executors.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from credit_scoring.config import Settings
from credit_scoring.scoring.model import BOOSTER_FILE, METADATA_FILE, CreditModel


class ModelNotFoundError(ValueError):
    """The requested alias or version is not registered."""


@dataclass(frozen=True)
class RegisteredModel:
    """A loaded model version with its registry identity and its artifact files' text."""

    model: CreditModel
    name: str
    version: str
    booster_text: str
    metadata_text: str


def load_from_dir(directory: Path, name: str, version: str) -> RegisteredModel:
    """Load and smoke-test a downloaded pyfunc model directory (the API's loader)."""
    model = CreditModel.from_dir(directory)
    model.smoke_test()
    artifacts = directory / "artifacts"
    return RegisteredModel(
        model=model,
        name=name,
        version=version,
        booster_text=(artifacts / BOOSTER_FILE).read_text(encoding="utf-8"),
        metadata_text=(artifacts / METADATA_FILE).read_text(encoding="utf-8"),
    )


def model_from_text(booster_text: str, metadata_text: str) -> CreditModel:
    """Rebuild the model from its two artifact files' text (on a Spark executor)."""
    with tempfile.TemporaryDirectory(prefix="credit-model-") as tmp:
        booster, meta = Path(tmp) / BOOSTER_FILE, Path(tmp) / METADATA_FILE
        booster.write_text(booster_text, encoding="utf-8")
        meta.write_text(metadata_text, encoding="utf-8")
        return CreditModel.from_files(booster, meta)


def load_registered(
    settings: Settings, alias: str | None = "production", version: int | None = None
) -> RegisteredModel:
    """Resolve ``alias`` (or take ``version``) of ``settings.model_name`` through the registry
    gateway (explicit URIs, as the API's model source), download and load it."""
    from mlflow.exceptions import MlflowException  # deferred: importing mlflow costs seconds

    from credit_scoring.registry.gateway import RegistryGateway, apply_http_policy

    apply_http_policy("batch")  # a command: MLflow's retries, the operator's env wins
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    registry = RegistryGateway.from_settings(settings)
    try:
        if version is not None:
            resolved = str(registry.version(version).version)
        else:
            resolved = str(registry.version_by_alias(alias or "production").version)
    except MlflowException as exc:
        wanted = f"version {version}" if version is not None else f"alias {alias!r}"
        raise ModelNotFoundError(
            f"model {registry.model_name!r} has no {wanted} at {registry.tracking_uri}"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="credit-scoring-model-") as tmp:
        local = registry.download_model(resolved, Path(tmp))
        return load_from_dir(local, registry.model_name, resolved)
