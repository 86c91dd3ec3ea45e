"""Live model management: load the aliased version, poll for changes, swap atomically.

The served model lives in one attribute (:attr:`ModelManager.current`). A request handler reads
it once and uses that :class:`LoadedModel` to the end, so in-flight requests finish on the model
they started with while a reload replaces the attribute with a single assignment.

A reload (poll, admin call or webhook) resolves the alias in the registry, downloads the version
into the local model cache, loads it, checks its feature schema against the API's and scores its
input example, all in a worker thread off the event loop; only then is it swapped in. A version
that fails any step is refused (log line + ``credit_scoring_model_reloads_total{outcome="failed"}``)
and the previous one keeps serving.

The cache (``CREDIT_SCORING_MODEL_CACHE_DIR``) keeps the last good versions and a pointer to the
one last served per alias, so a restart while MLflow is down still serves that version.

The served version also gets its score reference (the training run's drift reference scores,
:mod:`credit_scoring.api.score_psi`), cached with it; a version whose run has none is served
all the same, without the ``credit_scoring_score_psi`` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from credit_scoring.api.metrics import ApiMetrics
from credit_scoring.api.score_psi import (
    ScoreWindow,
    load_reference,
    load_reference_file,
    reference_scores,
    save_reference,
)
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema

logger = logging.getLogger(__name__)

Outcome = Literal["swapped", "unchanged", "failed"]
_KEEP_CACHED_VERSIONS = 3
_INPUT_FIELDS = ("name", "type", "required", "integer", "min", "max", "categories")


class ScoringModel(Protocol):
    """What the API needs from a served model (implemented by ``CreditModel``)."""

    schema: FeatureSchema
    input_example: list[dict[str, Any]]

    def score(self, records: Sequence[Mapping[str, Any]], max_reasons: int = 4) -> list[Any]: ...

    def smoke_test(self) -> None: ...


class ModelRefused(RuntimeError):
    """A version cannot be served (load, schema check or smoke test failed)."""


@dataclass(frozen=True)
class VersionRef:
    """A registered model version the alias points to."""

    name: str
    version: str
    alias: str
    run_id: str | None = None


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve, with what the API reports about it."""

    model: ScoringModel
    name: str
    version: str
    alias: str
    run_id: str | None
    metrics: dict[str, float]
    source: Literal["registry", "cache"]
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    #: The recent scores against the version's reference (None: no reference, or the shadow).
    score_window: ScoreWindow | None = None


class ModelSource(Protocol):
    """Where versions come from (the MLflow registry in production)."""

    def resolve(self) -> VersionRef:
        """The version the served alias points to now (raises if unreachable/missing)."""
        ...

    def download(self, ref: VersionRef, dst: Path) -> Path:
        """Download the model directory of ``ref`` under ``dst``; return the model directory."""
        ...

    def metrics(self, ref: VersionRef) -> dict[str, float]:
        """Key metrics of the version's training run."""
        ...

    def reference_scores(self, ref: VersionRef) -> NDArray[np.float64] | None:
        """The scores of the version's drift reference (None: the version has none)."""
        ...


class MlflowModelSource:
    """Resolve ``models:/<name>@<alias>`` and download versions through the registry gateway.

    A thin user of :class:`credit_scoring.registry.gateway.RegistryGateway`: explicit tracking
    and registry URIs, no process-wide MLflow state touched (the HTTP policy is applied once
    when the :class:`ModelManager` is built, see ``registry.gateway``).
    """

    def __init__(self, settings: Settings, alias: str | None = None) -> None:
        # deferred: importing mlflow costs seconds
        from credit_scoring.registry.gateway import RegistryGateway

        self.registry = RegistryGateway.from_settings(settings)
        self.name = settings.model_name
        self.alias = alias or settings.serve_alias

    def resolve(self) -> VersionRef:
        mv = self.registry.version_by_alias(self.alias)
        return VersionRef(self.name, str(mv.version), self.alias, mv.run_id)

    def download(self, ref: VersionRef, dst: Path) -> Path:
        return self.registry.download_model(ref.version, dst)

    def metrics(self, ref: VersionRef) -> dict[str, float]:
        if not ref.run_id:
            return {}
        return select_key_metrics(self.registry.run_metrics(ref.run_id))

    def reference_scores(self, ref: VersionRef) -> NDArray[np.float64] | None:
        """The run's reference scores: ``reference/scores.npy`` (runs since the live score PSI),
        else the ``score`` column of ``reference/reference.parquet`` where pyarrow is installed
        (the full image; the serving image has none). None when the run has neither or the
        file has no score column; raises when MLflow fails."""
        import tempfile

        from credit_scoring.registry.gateway import (
            REFERENCE,
            REFERENCE_DIR,
            REFERENCE_SCORES,
        )

        if not ref.run_id:
            return None
        found = {
            Path(a.path).name
            for a in self.registry.client.list_artifacts(ref.run_id, REFERENCE_DIR)
        }
        with tempfile.TemporaryDirectory() as tmp:
            if Path(REFERENCE_SCORES).name in found:
                path = self.registry.download_artifact(ref.run_id, REFERENCE_SCORES, Path(tmp))
                return load_reference_file(path)
            if Path(REFERENCE).name not in found:
                return None
            if importlib.util.find_spec("pyarrow") is None:
                raise LookupError(
                    f"run {ref.run_id} has only {REFERENCE} (trained before {REFERENCE_SCORES} "
                    "was logged) and this image has no Parquet reader; retrain to get the gauge"
                )
            return reference_scores(
                self.registry.download_artifact(ref.run_id, REFERENCE, Path(tmp))
            )


def select_key_metrics(metrics: Mapping[str, float], limit: int = 20) -> dict[str, float]:
    """Test/holdout metrics when the run has them, else all, at most ``limit`` (sorted)."""
    preferred = {k: v for k, v in metrics.items() if k.startswith(("test_", "holdout_"))}
    chosen = preferred or dict(metrics)
    return {k: float(chosen[k]) for k in sorted(chosen)[:limit]}


def default_loader(path: Path) -> ScoringModel:
    """Load a downloaded pyfunc model directory as a ``CreditModel``."""
    from credit_scoring.scoring.model import CreditModel

    return CreditModel.from_dir(path)


def check_schema(expected: FeatureSchema, actual: FeatureSchema) -> None:
    """Raise :class:`ModelRefused` unless the model's inputs are those the API validates."""
    want = [f.model_dump(include=set(_INPUT_FIELDS)) for f in expected.features]
    got = [f.model_dump(include=set(_INPUT_FIELDS)) for f in actual.features]
    if want == got:
        return
    want_by = {f["name"]: f for f in want}
    got_by = {f["name"]: f for f in got}
    problems = [f"missing feature {n!r}" for n in want_by if n not in got_by]
    problems += [f"unexpected feature {n!r}" for n in got_by if n not in want_by]
    for n in want_by.keys() & got_by.keys():
        diff = [k for k in _INPUT_FIELDS if want_by[n][k] != got_by[n][k]]
        if diff:
            problems.append(f"feature {n!r} differs in {diff}")
    if not problems:
        problems.append("feature order differs")
    raise ModelRefused(
        "model feature schema does not match the API's request schema: "
        + "; ".join(sorted(problems))
    )


def smoke_test(model: ScoringModel) -> None:
    """Score the model's input example; raise :class:`ModelRefused` if anything is off."""
    from credit_scoring.scoring.model import ModelLoadError  # deferred like the loader's import

    try:
        model.smoke_test()
    except ModelLoadError as exc:
        raise ModelRefused(str(exc)) from exc


class ModelCache:
    """Last good model versions on local disk, with a pointer per alias."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root / name

    def version_dir(self, version: str) -> Path:
        return self.root / f"v{version}"

    def _pointer(self, alias: str) -> Path:
        return self.root / f"{alias}.json"

    def staging_dir(self) -> Path:
        path = self.root / f".tmp-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def commit(self, staging: Path, version: str, meta: dict[str, Any]) -> Path:
        """Move a loaded download into place (replacing an older copy) and write its meta."""
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        final = self.version_dir(version)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        return final

    def mark_served(self, alias: str, version: str) -> None:
        """Atomically record that ``version`` is the last good one for ``alias``."""
        tmp = self._pointer(alias).with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"version": version}), encoding="utf-8")
        os.replace(tmp, self._pointer(alias))
        self._prune(keep=version)

    def last_served(self, alias: str) -> tuple[Path, dict[str, Any]] | None:
        """The cached directory and meta of the last good version for ``alias``."""
        pointer = self._pointer(alias)
        if not pointer.is_file():
            return None
        try:
            version = str(json.loads(pointer.read_text(encoding="utf-8"))["version"])
            vdir = self.version_dir(version)
            meta = json.loads((vdir / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("model cache pointer %s is unusable: %s", pointer, exc)
            return None
        return vdir, meta

    def _prune(self, keep: str) -> None:
        dirs = sorted(
            (p for p in self.root.glob("v*") if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        pointed = {keep}
        for ptr in self.root.glob("*.json"):
            try:
                pointed.add(str(json.loads(ptr.read_text(encoding="utf-8"))["version"]))
            except (OSError, ValueError, KeyError):
                continue
        for old in dirs[_KEEP_CACHED_VERSIONS:]:
            if old.name[1:] not in pointed:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in self.root.glob(".tmp-*"):
            if time.time() - tmp.stat().st_mtime > 3600:
                shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class ReloadResult:
    """What a reload did."""

    outcome: Outcome
    previous_version: str | None
    version: str | None
    detail: str


class ModelManager:
    """Owns the served model: initial load with retries, polling, reloads and the cache.

    ``role="shadow"`` manages the shadow challenger (``alias`` = ``CREDIT_SCORING_SHADOW_ALIAS``)
    the same way, publishing to the ``credit_scoring_shadow_*`` metrics instead of the served
    model's, so a failing shadow version never shows up as a serving problem.
    """

    def __init__(
        self,
        settings: Settings,
        schema: FeatureSchema,
        metrics: ApiMetrics,
        source_factory: Callable[[], ModelSource] | None = None,
        loader: Callable[[Path], ScoringModel] = default_loader,
        *,
        alias: str | None = None,
        role: Literal["served", "shadow"] = "served",
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.metrics = metrics
        self.loader = loader
        self.alias = alias or settings.serve_alias
        self.role = role
        served = role == "served"
        self._reloads = metrics.reloads if served else metrics.shadow_reloads
        self._registry_errors = metrics.registry_errors if served else metrics.shadow_errors
        if source_factory is None:
            from credit_scoring.registry.gateway import apply_http_policy

            # Process start (the app's lifespan), never at reload: fail fast against MLflow.
            apply_http_policy("serving")
            model_alias = self.alias
            source_factory = lambda: MlflowModelSource(settings, model_alias)  # noqa: E731
        self._source_factory = source_factory
        self._source: ModelSource | None = None
        self.cache = ModelCache(settings.resolved_model_cache_dir, settings.model_name)
        self.current: LoadedModel | None = None
        self.last_error: str | None = (
            f"loading models:/{settings.model_name}@{self.alias} "
            f"from {settings.resolved_tracking_uri}"
        )
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._refused: set[str] = set()
        #: The version the alias points at that was refused (None when the alias is served).
        self.refused: str | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background loader/poller on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"model-manager-{self.role}"
        )

    async def stop(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def trigger(self) -> None:
        """Ask the poller to check the alias now (webhooks)."""
        self._wakeup.set()

    async def _run(self) -> None:
        delay = 1.0
        while self.current is None:
            result = await self.reload(trigger="startup", force=True)
            if self.current is not None:
                break
            if self.current is None:
                await asyncio.to_thread(self._load_from_cache)
                if self.current is not None:
                    break
            logger.error(
                "no model to serve yet (%s); /readyz stays 503; retrying in %.0fs",
                result.detail,
                delay,
            )
            await self._sleep(delay)
            delay = min(delay * 2, max(self.settings.reload_interval_s, 1.0), 30.0)
        while True:
            await self._sleep(self.settings.reload_interval_s)
            await self.reload(trigger="poll")

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)
        except TimeoutError:
            return
        self._wakeup.clear()

    # --- reload -------------------------------------------------------------------------------
    async def reload(self, trigger: str = "admin", force: bool = False) -> ReloadResult:
        """Check the alias and swap in its version if it changed; never raises."""
        async with self._lock:
            result = await asyncio.to_thread(self._reload_blocking, force)
        if result.outcome != "unchanged" or trigger != "poll":
            self._reloads.labels(result.outcome, trigger).inc()
        if result.outcome == "swapped":
            logger.info(
                "model swapped: %s -> %s (%s)",
                result.previous_version,
                result.version,
                trigger,
                extra={"model_version": result.version, "trigger": trigger},
            )
        return result

    def _source_or_create(self) -> ModelSource:
        if self._source is None:
            self._source = self._source_factory()
        return self._source

    def _reload_blocking(self, force: bool) -> ReloadResult:
        previous = self.current.version if self.current else None
        name, alias = self.settings.model_name, self.alias
        try:
            source = self._source_or_create()
            ref = source.resolve()
        except Exception as exc:
            self._count_registry_error()
            detail = (
                f"cannot resolve models:/{name}@{alias} at {self.settings.resolved_tracking_uri}: "
                f"{_short(exc)}"
            )
            if self.current is not None:
                detail += f"; still serving version {previous}"
            logger.warning(detail)
            self.last_error = detail
            return ReloadResult("failed", previous, previous, detail)
        if ref.version == previous:
            self._set_refused(None)
            if self.current is not None and self.current.source == "cache":
                # The registry answers again and confirms the cached version: say so.
                self._swap(replace(self.current, source="registry"), confirm=True)
                logger.info("registry reachable again: version %s confirmed", previous)
            return ReloadResult("unchanged", previous, previous, f"already serving {previous}")
        if ref.version in self._refused and not force:
            return ReloadResult(
                "unchanged",
                previous,
                previous,
                f"version {ref.version} was refused before; still serving {previous}",
            )
        try:
            loaded = self._fetch_and_check(source, ref)
        except ModelRefused as exc:
            self._refused.add(ref.version)
            self._set_refused(ref.version)
            detail = f"refused version {ref.version} of {name}: {_short(exc)}"
            if previous is not None:
                detail += f"; still serving version {previous}"
            logger.error(detail, extra={"model_version": ref.version})
            self.last_error = detail
            return ReloadResult("failed", previous, previous, detail)
        except Exception as exc:
            # A failed download (MLflow or its artifact store unreachable, a dropped pooled
            # connection) says nothing about the version: it is retried at the next check, never
            # refused (only a model that fails to load, the schema or the smoke test is refused).
            self._count_registry_error()
            detail = f"cannot download version {ref.version} of {name}: {_short(exc)}"
            if previous is not None:
                detail += f"; still serving version {previous}"
            logger.warning("%s (retried at the next check)", detail)
            self.last_error = detail
            return ReloadResult("failed", previous, previous, detail)
        self._swap(loaded)
        self._set_refused(None)
        self.cache.mark_served(alias, loaded.version)
        self._refused.discard(ref.version)
        return ReloadResult(
            "swapped", previous, loaded.version, f"now serving version {loaded.version}"
        )

    def _fetch_and_check(self, source: ModelSource, ref: VersionRef) -> LoadedModel:
        staging = self.cache.staging_dir()
        try:
            model_dir = source.download(ref, staging / "model")
            model = self._load_checked(model_dir)
            window = self._fetch_score_window(source, ref, staging)
            try:
                metrics = source.metrics(ref)
            except Exception as exc:
                logger.warning("cannot read metrics of run %s: %s", ref.run_id, _short(exc))
                metrics = {}
            meta = {
                "name": ref.name,
                "version": ref.version,
                "alias": ref.alias,
                "run_id": ref.run_id,
                "metrics": metrics,
                "model_dir": str(model_dir.relative_to(staging)),
            }
            try:
                self.cache.commit(staging, ref.version, meta)
            except OSError as exc:  # e.g. another replica sharing the cache wrote it first
                logger.warning("cannot cache version %s: %s", ref.version, _short(exc))
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return LoadedModel(
            model,
            ref.name,
            ref.version,
            ref.alias,
            ref.run_id,
            metrics,
            "registry",
            score_window=window,
        )

    def _fetch_score_window(
        self, source: ModelSource, ref: VersionRef, directory: Path
    ) -> ScoreWindow | None:
        """The served version's score window from its reference, saved in ``directory``
        (cached with the version); None (no gauge) for the shadow or without a reference."""
        if self.role != "served":
            return None
        try:
            scores = source.reference_scores(ref)
        except Exception as exc:
            logger.warning(
                "version %s: cannot read its score reference (%s); credit_scoring_score_psi is "
                "not exported for it",
                ref.version,
                _short(exc),
            )
            return None
        if scores is None:
            logger.warning(
                "version %s: its run has no drift reference scores; credit_scoring_score_psi "
                "is not exported for it",
                ref.version,
            )
            return None
        save_reference(directory, scores)
        return self._score_window(ref.version, scores)

    def _score_window(self, version: str, scores: NDArray[np.float64] | None) -> ScoreWindow | None:
        if scores is None:
            return None
        try:
            window = ScoreWindow(
                scores,
                self.settings.api_score_psi_window,
                self.settings.api_score_psi_min_scores,
            )
        except ValueError as exc:
            logger.warning("version %s: unusable score reference: %s", version, exc)
            return None
        return window

    def _load_checked(self, model_dir: Path) -> ScoringModel:
        try:
            model = self.loader(model_dir)
        except Exception as exc:
            raise ModelRefused(f"cannot load model: {_short(exc)}") from exc
        check_schema(self.schema, model.schema)
        smoke_test(model)
        return model

    def _load_from_cache(self) -> None:
        found = self.cache.last_served(self.alias)
        if found is None:
            return
        vdir, meta = found
        try:
            model = self._load_checked(vdir / meta.get("model_dir", "model"))
        except Exception as exc:
            logger.error("cached model version %s is unusable: %s", meta.get("version"), exc)
            return
        reference = load_reference(vdir) if self.role == "served" else None
        loaded = LoadedModel(
            model,
            meta["name"],
            str(meta["version"]),
            meta["alias"],
            meta.get("run_id"),
            meta.get("metrics") or {},
            "cache",
            score_window=self._score_window(str(meta["version"]), reference),
        )
        self._swap(loaded)
        logger.warning(
            "MLflow unreachable: serving cached version %s of %s until the registry answers",
            loaded.version,
            loaded.name,
        )

    def _count_registry_error(self) -> None:
        if self.role == "served":
            self._registry_errors.inc()
        else:
            self._registry_errors.labels("registry").inc()

    def _set_refused(self, version: str | None) -> None:
        """Publish (or clear) the refused version the alias points at."""
        self.refused = version
        if self.role != "served":
            return  # the served model's gauge; a refused shadow only counts its errors
        self.metrics.refused_version.clear()
        if version is not None:
            name, alias = self.settings.model_name, self.settings.serve_alias
            self.metrics.refused_version.labels(name, version, alias).set(1)

    def _swap(self, loaded: LoadedModel, confirm: bool = False) -> None:
        # A single attribute assignment: requests that already read `current` keep the old model.
        self.current = loaded
        self.last_error = None
        publish = self.metrics.set_model if self.role == "served" else self.metrics.set_shadow_model
        publish(loaded.name, loaded.version, loaded.alias, loaded.run_id or "", loaded.source)
        if confirm:
            return
        # Move everything alive now (MLflow, pandas, the model...) to the permanent generation:
        # the cyclic collector then stops rescanning these long-lived objects each time requests
        # trigger a full collection (measured: batch scoring 2x faster). No collect() first: that
        # would stall requests for a full pass; what is frozen is only ever freed by refcounting.
        gc.freeze()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
