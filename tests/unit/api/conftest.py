"""Fixtures for the API unit tests: real tiny CreditModels and a directory-backed model source.

The models are real LightGBM boosters trained for a few rounds on the bundled German Credit data
and saved in the pyfunc directory layout; only the registry is replaced by local directories
(the integration tests use a real MLflow server).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from credit_scoring.api.model_manager import VersionRef
from credit_scoring.api.score_psi import reference_scores
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.registry.gateway import REFERENCE_FILE
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "src" / "credit_scoring" / "data" / "bundled"


@pytest.fixture(scope="session")
def schema() -> FeatureSchema:
    return FeatureSchema.load(BUNDLED / "german_credit.schema.yaml")


@pytest.fixture(scope="session")
def german() -> pd.DataFrame:
    return pd.read_csv(BUNDLED / "german_credit.csv")


def train_tiny(
    schema: FeatureSchema, frame: pd.DataFrame, rounds: int = 15, *, additive: bool = True
) -> CreditModel:
    """A real (small) calibrated LightGBM credit model; ``additive`` as the pipeline's default
    (one feature per tree), else with feature interactions (reason codes from TreeSHAP)."""
    n = len(schema.features)
    interactions = {"interaction_constraints": [[i] for i in range(n)]} if additive else {}
    enc = FeatureEncoder(schema)
    x = enc.encode_frame(frame)
    y = (frame[schema.target.name] == "bad").astype(int).to_numpy()
    data = lgb.Dataset(
        x,
        y,
        feature_name=enc.names,
        categorical_feature=enc.categorical_indices,
        free_raw_data=False,
    )
    booster = lgb.train(
        {
            "objective": "binary",
            "verbose": -1,
            "num_leaves": 7,
            "seed": 1,
            "deterministic": True,
            "num_threads": 1,
            "min_data_in_leaf": 20,
            **interactions,
        },
        data,
        num_boost_round=rounds,
    )
    example = frame[schema.feature_names].head(2).to_dict(orient="records")
    example = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in example
    ]
    return CreditModel(booster, schema, ScoreScaling(), Calibration(), example)


@pytest.fixture(scope="session")
def tiny_model(schema: FeatureSchema, german: pd.DataFrame) -> CreditModel:
    return train_tiny(schema, german)


@pytest.fixture(scope="session")
def tiny_interaction_model(schema: FeatureSchema, german: pd.DataFrame) -> CreditModel:
    """Trees may split on several features: no lookup tables, TreeSHAP per request."""
    return train_tiny(schema, german, additive=False)


@pytest.fixture(scope="session")
def model_dirs(
    tmp_path_factory: pytest.TempPathFactory, schema: FeatureSchema, german: pd.DataFrame
) -> dict[str, Path]:
    """Pyfunc-layout model directories: '1' and '2' good, 'broken' cannot score, 'other' has a
    different schema. Version '1' also has a drift reference (``reference.parquet`` beside its
    artifacts, as a training run logs it); '2' has none."""
    root = tmp_path_factory.mktemp("models")
    out: dict[str, Path] = {}
    for name, rounds in (("1", 10), ("2", 30)):
        model = train_tiny(schema, german, rounds)
        model.save_artifacts(root / name / "artifacts")
        out[name] = root / name
        if name == "1":
            write_reference(model, german.head(700), out[name] / REFERENCE_FILE)
    broken = root / "broken"
    shutil.copytree(out["1"], broken)
    (broken / "artifacts" / "booster.txt").write_text("not a booster", encoding="utf-8")
    out["broken"] = broken
    # Same features but one category removed: the API must refuse it.
    narrowed = schema.model_copy(deep=True)
    narrowed.features[3].categories = narrowed.features[3].categories[:-1]  # type: ignore[index]
    other = train_tiny(narrowed, german[german["purpose"] != "retraining"], 10)
    other.save_artifacts(root / "other" / "artifacts")
    out["other"] = root / "other"
    return out


def write_reference(model: CreditModel, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A drift reference like the training pipeline's: feature columns plus the model's
    ``probability``, ``score`` and ``decision``; written to ``path`` and returned."""
    ref = frame[model.schema.feature_names].reset_index(drop=True).copy()
    results = model.score(ref.to_dict(orient="records"), max_reasons=0)
    ref["probability"] = [r.probability for r in results]
    ref["score"] = [r.score for r in results]
    ref["decision"] = [r.decision for r in results]
    ref.to_parquet(path, index=False)
    return ref


class DirSource:
    """A model source backed by local directories; ``alias_version`` is what the alias points to."""

    def __init__(self, dirs: dict[str, Path], alias_version: str | None = "1") -> None:
        self.dirs = dirs
        self.alias_version = alias_version
        self.reachable = True
        self.downloads = 0
        self.failing_downloads = 0  # the next N downloads fail like a dropped connection
        self.gate = threading.Event()
        self.gate.set()

    def resolve(self) -> VersionRef:
        if not self.reachable:
            raise ConnectionError("registry unreachable")
        if self.alias_version is None:
            raise LookupError("alias not set")
        return VersionRef(
            "credit-scoring", self.alias_version, "production", f"run-{self.alias_version}"
        )

    def download(self, ref: VersionRef, dst: Path) -> Path:
        self.gate.wait(30)
        self.downloads += 1
        if self.failing_downloads:
            self.failing_downloads -= 1
            raise ConnectionError("Connection aborted: RemoteDisconnected")
        shutil.copytree(self.dirs[ref.version], dst)
        return dst

    def metrics(self, ref: VersionRef) -> dict[str, float]:
        return {"test_auc": 0.75, "test_ks": 0.4}

    def reference_scores(self, ref: VersionRef) -> np.ndarray | None:
        path = self.dirs[ref.version] / REFERENCE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"run-{ref.version} has no artifact {REFERENCE_FILE}")
        return reference_scores(path)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "home": tmp_path / "home",
            "api_keys": "key-one,key-two",
            "admin_api_key": "admin-key",
            "webhook_secret": "hook-secret",
            "reload_interval_s": 0.2,
            "max_batch_size": 5,
            "max_body_bytes": 4096,
        }
        base.update(overrides)
        return Settings(**base)

    return make


@pytest.fixture
def make_source(model_dirs: dict[str, Path]) -> Callable[..., DirSource]:
    """Build a :class:`DirSource` over the test model directories."""

    def make(alias_version: str | None = "1") -> DirSource:
        return DirSource(model_dirs, alias_version)

    return make
