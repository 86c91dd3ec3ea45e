"""A logistic regression trained and registered by the real pipeline is served like any family:
the registered version scores the bundled CSV through ``mlflow.pyfunc`` and through the API's
scoring routes (lookup tables with linear terms, reason codes), and all paths agree."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from credit_scoring.api.app import create_app
from credit_scoring.api.model_manager import VersionRef
from credit_scoring.config import Settings
from credit_scoring.data.io import GERMAN_CREDIT, bundled_path
from credit_scoring.scoring.additive import AdditiveTables
from credit_scoring.scoring.model import CreditModel, load_credit_model
from credit_scoring.training.pipeline import TrainResult, train

pytestmark = [pytest.mark.model, pytest.mark.slow]

HOMES: list[Path] = []
KEY = {"X-API-Key": "key-one"}


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TrainResult, CreditModel, Path]]:
    import mlflow

    home = tmp_path_factory.mktemp("logistic-home")
    HOMES[:] = [home]
    settings = Settings(home=home, tracking_uri=None, model_family="logistic", cv_max_rows=0)
    result = train(settings=settings)
    model = load_credit_model(f"models:/credit-scoring/{result.version}", home / "dl")
    yield result, model, home
    mlflow.set_tracking_uri(None)


@pytest.fixture(autouse=True)
def keep_store(trained: tuple[TrainResult, CreditModel, Path], isolated_mlflow: Path) -> None:
    """The module-scoped store outlives the per-test isolation fixture: point MLflow at it."""
    import mlflow

    uri = f"sqlite:///{HOMES[0] / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


class _Downloaded:
    """The registered version, downloaded once, as the API's model source."""

    def __init__(self, version: int) -> None:
        self.version = str(version)

    def resolve(self) -> VersionRef:
        return VersionRef("credit-scoring", self.version, "production", None)

    def download(self, ref: VersionRef, dst: Path) -> Path:
        import mlflow

        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/credit-scoring/{ref.version}", dst_path=str(dst)
            )
        )

    def metrics(self, ref: VersionRef) -> dict[str, float]:
        return {}


def test_registered_as_logistic_with_linear_tables(
    trained: tuple[TrainResult, CreditModel, Path],
) -> None:
    import mlflow

    result, model, _ = trained
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["model_family"] == "logistic"
    assert isinstance(model.tables, AdditiveTables)
    assert any(t.slopes for t in model.tables.tables)
    assert 0.70 <= result.metrics["test_auc"] <= 0.85


def test_pyfunc_scores_the_bundled_csv(trained: tuple[TrainResult, CreditModel, Path]) -> None:
    import mlflow

    result, model, _ = trained
    raw = pd.read_csv(bundled_path(GERMAN_CREDIT))
    out = mlflow.pyfunc.load_model(f"models:/credit-scoring/{result.version}").predict(raw)
    expected = model.predict_proba(raw.to_dict(orient="records"))
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, atol=1e-12)
    # the booster's own margin (linear leaves) is what the tables reproduce
    x = model.encoder.encode_frame(raw)
    np.testing.assert_allclose(
        model.tables.contrib_matrix(x).sum(axis=1),  # type: ignore[union-attr]
        model.margin(x),
        atol=1e-9,
    )


def test_api_scores_with_reason_codes(
    trained: tuple[TrainResult, CreditModel, Path], tmp_path: Path
) -> None:
    result, model, _ = trained
    raw = pd.read_csv(bundled_path(GERMAN_CREDIT))
    rows = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in raw[model.schema.feature_names].head(20).to_dict(orient="records")
    ]
    settings = Settings(
        home=tmp_path / "api-home",
        api_keys="key-one",
        admin_api_key="admin-key",
        webhook_secret="hook-secret",
    )
    source = _Downloaded(result.version)
    with TestClient(create_app(settings, source_factory=lambda: source)) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "API not ready"
            time.sleep(0.05)
        batch = client.post("/v1/score/batch", json={"applications": rows}, headers=KEY)
        assert batch.status_code == 200, batch.text
        expected = model.score(rows, max_reasons=4)
        for row, item, want in zip(rows, batch.json()["results"], expected, strict=True):
            single = client.post("/v1/score", json=row, headers=KEY)
            assert single.status_code == 200, single.text
            body = single.json()
            assert body["probability"] == pytest.approx(want.probability, abs=1e-12)
            assert item["probability"] == pytest.approx(want.probability, abs=1e-12)
            assert [r["feature"] for r in body["reasons"]] == [r.feature for r in want.reasons]
        assert any(item["reasons"] for item in batch.json()["results"])
