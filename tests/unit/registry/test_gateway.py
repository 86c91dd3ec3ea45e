"""The registry gateway on a real embedded MLflow store: quoted filter values, lookups and
downloads on explicit URIs (never the process-wide ones), and the HTTP policy."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from credit_scoring.config import Settings
from credit_scoring.registry.gateway import (
    IDEMPOTENCY_TAG,
    RegistryGateway,
    apply_http_policy,
    filter_value,
)
from credit_scoring.training.pipeline import find_version_by_key

pytestmark = pytest.mark.unit

# Each value would break (or, unquoted, widen) a filter written with f"... = '{value}'".
KEYS = ["plain", "run 'a'", 'run "b"', "run 'c' \"d\"", "50%_x", "back\\slash", "a' or '1'='1"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> RegistryGateway:
    """A model whose name holds a quote, one version per key in ``KEYS`` (one store per module:
    creating an MLflow SQLite store takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    gw = RegistryGateway(uri, "credit 'scoring'")
    source = tmp_path / "model-src"
    (source / "sub").mkdir(parents=True)
    (source / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    (source / "sub" / "weights.txt").write_text("42", encoding="utf-8")
    gw.client.create_registered_model(gw.model_name)
    for key in KEYS:
        gw.client.create_model_version(gw.model_name, source.as_uri(), tags={IDEMPOTENCY_TAG: key})
    return gw


def test_filter_value_quotes_without_escapes() -> None:
    assert filter_value("a") == "'a'"
    assert filter_value("it's") == '"it\'s"'
    assert filter_value('say "x"') == "'say \"x\"'"
    with pytest.raises(ValueError, match="both quote kinds"):
        filter_value('it\'s "x"')


@pytest.mark.parametrize("key", KEYS)
def test_tag_search_finds_exactly_the_version_of_each_key(
    registry: RegistryGateway, key: str
) -> None:
    found = registry.versions_with_tag(IDEMPOTENCY_TAG, key)
    assert [int(v.version) for v in found] == [KEYS.index(key) + 1]
    assert registry.versions_with_tag(IDEMPOTENCY_TAG, key + "x") == []


def test_idempotency_lookup_with_quotes_in_key_and_model_name(
    registry: RegistryGateway, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path, tracking_uri=registry.tracking_uri, model_name=registry.model_name
    )
    assert find_version_by_key(settings, "run 'a'") == (2, "None")
    assert find_version_by_key(settings, "run 'c' \"d\"") == (4, "None")
    assert find_version_by_key(settings, "a'") is None


def test_lookups(registry: RegistryGateway) -> None:
    assert registry.latest_version() == len(KEYS)
    assert len(registry.versions()) == len(KEYS)
    assert registry.alias_version("production") is None
    registry.set_alias("production", 3)
    assert registry.alias_version("production") == 3
    assert int(registry.version_by_alias("production").version) == 3
    registry.set_version_tags(3, {"validation_status": "passed"})
    assert registry.version(3).tags["validation_status"] == "passed"
    with pytest.raises(MlflowException):
        registry.version_by_alias("staging")


def test_download_uses_the_gateway_uris_not_the_process_wide_ones(
    registry: RegistryGateway, tmp_path: Path
) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    local = registry.download_model(2, tmp_path / "dl")
    assert (local / "sub" / "weights.txt").read_text() == "42"
    assert mlflow.get_tracking_uri() == elsewhere  # untouched


def test_http_policy() -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}
    apply_http_policy("batch", env)
    assert env == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}  # the operator's value wins
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "true"}
    apply_http_policy("serving", env)
    assert env == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "true",
    }
