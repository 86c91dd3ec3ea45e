"""Aliases, promotion and rollback in the MLflow model registry.

MLflow 3 deprecates registry stages; this project maps the deployment guide's stages to aliases:
None -> a version with no alias, Staging -> alias ``staging`` (set by the validation gate),
Production -> alias ``production`` (set by :func:`promote`). ``previous`` marks the version that
was in production before the last promotion, and the registered-model tag ``production_history``
(JSON list) lets :func:`rollback` walk back more than one step.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException

from credit_scoring.config import Settings, get_settings
from credit_scoring.registry.gateway import VALIDATION_STATUS_TAG, RegistryGateway
from credit_scoring.registry.live_evidence import live_compare_checks
from credit_scoring.registry.tracking import configure_mlflow

STAGING = "staging"
PRODUCTION = "production"
PREVIOUS = "previous"
HISTORY_TAG = "production_history"
HISTORY_LIMIT = 50
KEY_METRICS = ("test_auc", "test_ks", "test_brier", "test_ece")


class PromotionError(ValueError):
    """A promotion or rollback request cannot be carried out."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as listed by ``credit-scoring models``."""

    version: int
    aliases: list[str]
    validation_status: str
    run_id: str
    created: datetime
    metrics: dict[str, float] = field(default_factory=dict)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_actor(actor: str | None = None) -> str:
    """Who is acting: the given name, else the OS user."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def alias_version(settings: Settings, alias: str) -> int | None:
    """The version holding ``alias``, or None."""
    return RegistryGateway.from_settings(settings).alias_version(alias)


def _history(registry: RegistryGateway) -> list[int]:
    model = registry.client.get_registered_model(registry.model_name)
    raw = model.tags.get(HISTORY_TAG)
    return [int(v) for v in json.loads(raw)] if raw else []


def _set_history(registry: RegistryGateway, history: list[int]) -> None:
    registry.client.set_registered_model_tag(
        registry.model_name, HISTORY_TAG, json.dumps(history[-HISTORY_LIMIT:])
    )


def promote(
    version: int | None = None,
    reason: str = "",
    actor: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Move ``production`` to ``version`` (default: the ``staging`` version); return it.

    Only a version whose gate passed (tag ``validation_status=passed``) can be promoted; with
    ``CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE`` also only one whose live evidence (the
    ``live_compare_*`` tags of ``credit-scoring compare``) meets
    :func:`~credit_scoring.registry.live_evidence.live_compare_checks`. The old production
    version gets alias ``previous``.
    """
    settings = settings or get_settings()
    configure_mlflow(settings)
    registry = RegistryGateway.from_settings(settings)
    name = settings.model_name
    if version is None:
        version = registry.alias_version(STAGING)
        if version is None:
            raise PromotionError(
                f"no version of {name!r} has alias {STAGING!r}; run `credit-scoring validate` "
                "first or pass --version"
            )
    try:
        mv = registry.version(version)
    except MlflowException as exc:
        raise PromotionError(f"model {name!r} has no version {version}") from exc
    status = mv.tags.get(VALIDATION_STATUS_TAG, "none")
    if status != "passed":
        raise PromotionError(
            f"version {version} of {name!r} has validation_status={status!r}; only a version "
            "that passed the validation gate can be promoted"
        )
    current = registry.alias_version(PRODUCTION)
    if current == version:
        raise PromotionError(f"version {version} is already in {PRODUCTION!r}")
    if settings.gate_require_live_compare and current is not None:
        failed = [c for c in live_compare_checks(dict(mv.tags), settings) if c.failed]
        if failed:
            raise PromotionError(
                f"version {version} of {name!r} lacks the live evidence required "
                "(CREDIT_SCORING_GATE_REQUIRE_LIVE_COMPARE): "
                + "; ".join(f"{c.name}: {c.detail} (limit {c.threshold:g})" for c in failed)
                + f". Run `credit-scoring compare --challenger <alias of v{version}>` on its "
                "shadow traffic first"
            )
    if current is not None:
        registry.set_alias(PREVIOUS, current)
    registry.set_alias(PRODUCTION, version)
    history = _history(registry)
    if current is not None and (not history or history[-1] != current):
        history.append(current)
    _set_history(registry, [*history, version])
    registry.set_version_tags(
        version,
        {
            "promoted_by": current_actor(actor),
            "promoted_at": now_iso(),
            "promotion_reason": reason or "not given",
            "promoted_from": str(current) if current is not None else "none",
        },
    )
    return version


def rollback(reason: str = "", actor: str | None = None, settings: Settings | None = None) -> int:
    """Move ``production`` back to the version that held it before; return that version."""
    settings = settings or get_settings()
    configure_mlflow(settings)
    registry = RegistryGateway.from_settings(settings)
    name = settings.model_name
    current = registry.alias_version(PRODUCTION)
    if current is None:
        raise PromotionError(f"{name!r} has no {PRODUCTION!r} version to roll back")
    history = _history(registry)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise PromotionError(
            f"version {current} is the first production version of {name!r}; nothing to "
            "roll back to"
        )
    target = history[-1]
    registry.set_alias(PRODUCTION, target)
    if len(history) > 1:
        registry.set_alias(PREVIOUS, history[-2])
    else:
        registry.client.delete_registered_model_alias(name, PREVIOUS)
    _set_history(registry, history)
    who, when = current_actor(actor), now_iso()
    registry.set_version_tags(
        current,
        {"rolled_back_at": when, "rolled_back_by": who, "rollback_reason": reason or "not given"},
    )
    registry.set_version_tags(target, {"restored_at": when})
    return target


def list_versions(settings: Settings | None = None) -> list[VersionInfo]:
    """All versions of the registered model, newest first, with aliases and key metrics."""
    settings = settings or get_settings()
    configure_mlflow(settings)
    registry = RegistryGateway.from_settings(settings)
    try:
        model = registry.client.get_registered_model(settings.model_name)
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, v in (model.aliases or {}).items():
        by_version.setdefault(str(v), []).append(alias)
    out = []
    for mv in registry.versions():
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                run_metrics = registry.run_metrics(mv.run_id)
                metrics = {k: run_metrics[k] for k in KEY_METRICS if k in run_metrics}
            except MlflowException:
                metrics = {}
        out.append(
            VersionInfo(
                version=int(mv.version),
                aliases=sorted(by_version.get(str(mv.version), [])),
                validation_status=mv.tags.get(VALIDATION_STATUS_TAG, "none"),
                run_id=mv.run_id or "",
                created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
                metrics=metrics,
            )
        )
    return sorted(out, key=lambda v: -v.version)
