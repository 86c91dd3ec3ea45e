"""Reloads: swap on alias change, refuse broken or mismatching versions, serve from cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.model_manager import ModelManager, ModelRefused, check_schema
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema

pytestmark = pytest.mark.unit


def _manager(
    settings: Settings, schema: FeatureSchema, source: Any
) -> tuple[ModelManager, ApiMetrics]:
    metrics = ApiMetrics()
    return ModelManager(settings, schema, metrics, source_factory=lambda: source), metrics


def _reloads(metrics: ApiMetrics, outcome: str, trigger: str) -> float:
    labels = {"outcome": outcome, "trigger": trigger}
    value = metrics.registry.get_sample_value("credit_scoring_model_reloads_total", labels)
    return value or 0.0


def test_swap_unchanged_and_refusals(
    settings_factory: Callable[..., Settings],
    schema: FeatureSchema,
    make_source: Callable[..., Any],
) -> None:
    source = make_source("1")
    manager, metrics = _manager(settings_factory(), schema, source)

    async def scenario() -> None:
        first = await manager.reload(force=True)
        assert (first.outcome, first.version) == ("swapped", "1")
        assert manager.current is not None and manager.current.version == "1"
        assert manager.current.metrics == {"test_auc": 0.75, "test_ks": 0.4}
        assert (await manager.reload()).outcome == "unchanged"

        source.alias_version = "broken"
        refused = await manager.reload(trigger="poll")
        assert refused.outcome == "failed" and "refused version broken" in refused.detail
        assert manager.current.version == "1"
        # A refused version is not downloaded again by every poll ...
        downloads = source.downloads
        assert (await manager.reload(trigger="poll")).outcome == "unchanged"
        assert source.downloads == downloads

        source.alias_version = "other"
        mismatch = await manager.reload(trigger="admin", force=True)
        assert mismatch.outcome == "failed"
        assert "feature 'purpose' differs in ['categories']" in mismatch.detail
        assert manager.current.version == "1"

        source.alias_version = "2"
        assert (await manager.reload(trigger="webhook")).outcome == "swapped"
        assert manager.current.version == "2"

    asyncio.run(scenario())
    assert _reloads(metrics, "failed", "poll") == 1
    assert _reloads(metrics, "failed", "admin") == 1
    assert _reloads(metrics, "swapped", "webhook") == 1
    text = metrics.render().decode()
    assert (
        'credit_scoring_model_info{alias="production",name="credit-scoring",run_id="run-2"' in text
    )
    assert 'version="1"' not in text.split("credit_scoring_model_info{", 1)[1].split("\n")[0]


def test_in_flight_reference_survives_a_swap(
    settings_factory: Callable[..., Settings],
    schema: FeatureSchema,
    make_source: Callable[..., Any],
) -> None:
    source = make_source("1")
    manager, _ = _manager(settings_factory(), schema, source)

    async def scenario() -> None:
        await manager.reload(force=True)
        held = manager.current
        assert held is not None
        before = held.model.score(held.model.input_example)
        source.alias_version = "2"
        await manager.reload()
        assert manager.current is not None and manager.current.version == "2"
        # The old object still scores exactly as before (requests finish on it).
        assert [r.probability for r in held.model.score(held.model.input_example)] == [
            r.probability for r in before
        ]

    asyncio.run(scenario())


def test_restart_serves_cached_version_while_registry_is_down(
    settings_factory: Callable[..., Settings],
    schema: FeatureSchema,
    make_source: Callable[..., Any],
) -> None:
    settings = settings_factory()
    source = make_source("2")
    manager, _ = _manager(settings, schema, source)
    asyncio.run(manager.reload(force=True))
    assert (settings.resolved_model_cache_dir / "credit-scoring" / "production.json").is_file()

    down = make_source("2")
    down.reachable = False
    restarted, metrics = _manager(settings, schema, down)

    async def scenario() -> None:
        restarted.start()
        for _ in range(100):
            if restarted.current is not None:
                break
            await asyncio.sleep(0.05)
        await restarted.stop()

    asyncio.run(scenario())
    assert restarted.current is not None
    assert (restarted.current.version, restarted.current.source) == ("2", "cache")
    errors = [
        ln
        for ln in metrics.render().decode().splitlines()
        if ln.startswith("credit_scoring_registry_errors_total ")
    ]
    assert float(errors[0].split()[1]) >= 1

    # The registry answers again with the same version: the status says so (issue 13).
    down.reachable = True
    result = asyncio.run(restarted.reload(trigger="poll"))
    assert result.outcome == "unchanged"
    assert (restarted.current.version, restarted.current.source) == ("2", "registry")
    info = metrics.render().decode()
    assert 'source="registry"' in info and 'source="cache"' not in info


def test_refused_alias_target_is_published(
    settings_factory: Callable[..., Settings],
    schema: FeatureSchema,
    make_source: Callable[..., Any],
) -> None:
    source = make_source("1")
    manager, metrics = _manager(settings_factory(), schema, source)
    refused = "credit_scoring_model_refused_version"
    labels = {"name": "credit-scoring", "version": "broken", "alias": "production"}

    async def scenario() -> None:
        await manager.reload(force=True)
        assert manager.refused is None
        source.alias_version = "broken"
        await manager.reload(trigger="poll")
        assert manager.refused == "broken" and manager.current.version == "1"  # type: ignore[union-attr]
        assert metrics.registry.get_sample_value(refused, labels) == 1
        await manager.reload(trigger="poll")  # still refused, not downloaded again
        assert manager.refused == "broken"
        source.alias_version = "1"  # rolled back to the served version
        await manager.reload(trigger="poll")
        assert manager.refused is None

    asyncio.run(scenario())
    assert metrics.registry.get_sample_value(refused, labels) is None


def test_no_registry_no_cache_stays_unready(
    settings_factory: Callable[..., Settings],
    schema: FeatureSchema,
    make_source: Callable[..., Any],
) -> None:
    source = make_source("1")
    source.reachable = False
    manager, _ = _manager(settings_factory(), schema, source)

    async def scenario() -> None:
        manager.start()
        deadline = time.monotonic() + 20
        while "registry unreachable" not in (manager.last_error or ""):
            assert time.monotonic() < deadline, manager.last_error
            await asyncio.sleep(0.05)
        assert manager.current is None
        source.reachable = True
        manager.trigger()
        for _ in range(100):
            if manager.current is not None:
                break
            await asyncio.sleep(0.05)
        await manager.stop()

    asyncio.run(scenario())
    assert manager.current is not None and manager.current.version == "1"


def test_check_schema_accepts_identical_inputs(schema: FeatureSchema) -> None:
    relabelled = schema.model_copy(deep=True)
    relabelled.features[0].reason = "another text"
    check_schema(schema, relabelled)
    reordered = schema.model_copy(deep=True)
    reordered.features.reverse()
    with pytest.raises(ModelRefused, match="feature order differs"):
        check_schema(schema, reordered)
