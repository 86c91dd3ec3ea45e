"""``run_compare`` against a real embedded MLflow store: versions resolved by alias, the shadow
pairs of exactly those versions, groups from the logged inputs and the challenger's schema, the
report on the challenger's run and the summary in its version tags, which the promotion to
production requires when ``gate_require_live_compare`` is set."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credit_scoring.config import Settings
from credit_scoring.data.schema import Feature, FeatureSchema, ProtectedAttribute, Target
from credit_scoring.ledger import open_ledger
from credit_scoring.monitoring.compare import run_compare
from credit_scoring.predictions import shadow
from credit_scoring.predictions.record import DecisionRecord, make_record
from credit_scoring.registry.gateway import FEATURE_SCHEMA_FILE, RegistryGateway
from credit_scoring.registry.promotion import PromotionError, promote
from credit_scoring.registry.tracking import configure_mlflow

pytestmark = [pytest.mark.integration]

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _append(settings: Settings, records: list[DecisionRecord]) -> None:
    """Store decisions as the API does: in the decision ledger."""
    store = open_ledger(settings)
    try:
        store.append(records)
    finally:
        store.close()


def test_compare_logs_on_the_challenger(settings: Settings, tmp_path: Path) -> None:
    configure_mlflow(settings)
    registry = RegistryGateway.from_settings(settings)
    client = registry.client
    schema = FeatureSchema(
        target=Target(name="y", positive=[1], negative=[0]),
        features=[Feature(name="age", type="numeric", min=18, max=100)],
        protected=[ProtectedAttribute(name="age_band", source="age", bins=[30])],
    )
    exp = client.get_experiment_by_name(settings.experiment_name)
    versions = []
    for _ in range(2):
        run = client.create_run(exp.experiment_id)
        (tmp_path / FEATURE_SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")
        client.log_artifact(run.info.run_id, str(tmp_path / FEATURE_SCHEMA_FILE))
        if not client.search_registered_models(f"name = '{settings.model_name}'"):
            client.create_registered_model(settings.model_name)
        mv = client.create_model_version(
            settings.model_name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        versions.append((str(mv.version), run.info.run_id))
    registry.set_alias("production", versions[0][0])
    registry.set_alias("staging", versions[1][0])

    ages = [25] * 60 + [50] * 60
    served = ["approve"] * 120
    challenger = ["decline"] * 30 + ["approve"] * 90  # 30 young applicants flip
    _append(
        settings,
        [
            make_record(
                decision_id=f"r{i}",
                request_id=f"r{i}",
                model_name=settings.model_name,
                model_version=versions[0][0],
                inputs={"age": age},
                probability=0.05,
                score=650.0,
                decision="approve",
                reasons=[],
                latency_ms=1.0,
                ts=T0,
            )
            for i, age in enumerate(ages)
        ],
    )
    pairs = [
        {
            "decision_id": f"r{i}",
            "ts": T0,
            "model_name": settings.model_name,
            "served_version": versions[0][0],
            "served_probability": 0.05,
            "served_decision": s,
            "shadow_alias": "staging",
            "shadow_version": versions[1][0],
            "shadow_probability": 0.5 if c == "decline" else 0.05,
            "shadow_score": 600.0,
            "shadow_decision": c,
            "shadow_grade": "H" if c == "decline" else "E",
        }
        for i, (s, c) in enumerate(zip(served, challenger, strict=True))
    ]
    pairs.append({**pairs[0], "decision_id": "other", "shadow_version": "99"})  # not this pair
    writer = shadow.ShadowLogWriter(settings)
    writer.write(pairs)  # type: ignore[arg-type]
    writer.close()

    report = run_compare(settings, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    assert report.n_pairs == 120
    assert report.flip_rate == pytest.approx(30 / 120)
    (fair,) = report.fairness
    assert fair.challenger_ratio == pytest.approx(0.5) and fair.passes is False
    tags = registry.version(versions[1][0]).tags
    assert tags["live_compare_pairs"] == "120"
    assert float(tags["live_compare_flip_rate"]) == pytest.approx(0.25)
    assert float(tags["live_compare_min_fairness_ratio"]) == pytest.approx(0.5)
    html = Path(
        client.download_artifacts(versions[1][1], tags["live_compare_report"], str(tmp_path))
    ).read_text()
    assert "fails" in html and "pd_scatter.png" in html
    logged = json.loads(
        Path(
            client.download_artifacts(
                versions[1][1],
                tags["live_compare_report"].replace("report.html", "report.json"),
                str(tmp_path / "j"),
            )
        ).read_text()
    )
    assert logged["swap_out"] == 30 and logged["swap_in"] == 0

    # Promotion can require that evidence (off by default): the challenger passed its gate
    # (the tag the validation gate sets) but its live figures fail the limits, so it stays out.
    registry.set_version_tags(versions[1][0], {"validation_status": "passed"})
    strict = settings.model_copy(update={"gate_require_live_compare": True})
    with pytest.raises(PromotionError) as refused:
        promote(int(versions[1][0]), reason="t", actor="ci", settings=strict)
    text = str(refused.value)
    assert "live shadow pairs: 120 pairs" in text and "limit 1000" in text
    assert "flip rate 25.00%" in text and "lowest ratio 0.500" in text
    assert registry.alias_version("production") == int(versions[0][0])
    lenient = strict.model_copy(
        update={
            "gate_live_min_pairs": 100,
            "gate_live_max_flip_rate": 0.3,
            "gate_min_fairness_ratio": 0.5,
        }
    )
    assert promote(int(versions[1][0]), reason="t", actor="ci", settings=lenient) == int(
        versions[1][0]
    )
    assert registry.alias_version("production") == int(versions[1][0])
