"""Rating grades served next to the PD: the model's master scale, stored with the version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.config import Settings
from credit_scoring.scoring.grades import MasterScale
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.pyfunc import predict_frame

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "src" / "credit_scoring" / "data" / "bundled"


@pytest.fixture()
def model(tiny_model: CreditModel) -> CreditModel:
    return tiny_model


def test_every_path_grades_with_the_models_scale(model: CreditModel) -> None:
    frame = pd.read_csv(BUNDLED / "german_credit.csv").head(50)
    records = frame[model.schema.feature_names].to_dict(orient="records")
    scale = model.master_scale
    batch = model.score(records, max_reasons=0)
    one = [model.score([r])[0] for r in records[:10]]
    assert [r.grade for r in batch] == list(scale.grades([r.probability for r in batch]))
    assert [r.grade for r in one] == [r.grade for r in batch[:10]]
    assert list(predict_frame(model, frame)["grade"]) == [r.grade for r in batch]
    assert len({r.grade for r in batch}) >= 2  # the scale separates these applicants


def test_master_scale_round_trips_with_the_version(model: CreditModel, tmp_path: Path) -> None:
    custom = MasterScale(labels=("1", "2", "3"), upper_bounds=(0.1, 0.3, 1.0))
    CreditModel(
        model.booster,
        model.schema,
        model.scaling,
        model.calibration,
        model.input_example,
        master_scale=custom,
    ).save_artifacts(tmp_path / "artifacts")
    loaded = CreditModel.from_files(
        tmp_path / "artifacts" / "booster.txt", tmp_path / "artifacts" / "credit_model.json"
    )
    assert loaded.master_scale == custom
    assert loaded.score(model.input_example)[0].grade in custom.labels


def test_versions_without_a_scale_get_the_default(model: CreditModel, tmp_path: Path) -> None:
    import json

    model.save_artifacts(tmp_path / "artifacts")
    meta_path = tmp_path / "artifacts" / "credit_model.json"
    meta = json.loads(meta_path.read_text())
    del meta["master_scale"]
    meta_path.write_text(json.dumps(meta))
    loaded = CreditModel.from_files(tmp_path / "artifacts" / "booster.txt", meta_path)
    assert loaded.master_scale == MasterScale()


def test_setting_reads_json_and_names_bad_scales(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CREDIT_SCORING_MASTER_SCALE", '{"labels": ["low", "high"], "upper_bounds": [0.2, 1]}'
    )
    assert Settings().master_scale.labels == ("low", "high")
    monkeypatch.setenv(
        "CREDIT_SCORING_MASTER_SCALE", '{"labels": ["low", "high"], "upper_bounds": [0.2, 0.9]}'
    )
    with pytest.raises(ValueError, match="last upper bound must be 1"):
        Settings()
