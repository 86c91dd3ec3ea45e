"""In-process cost of one ``POST /v1/score``: the whole ASGI app versus its model parts.

No HTTP server and no network: requests go straight into the ASGI app built by ``create_app``
(middleware, validation, scoring with reason codes, prediction log, metrics, JSON), so the figures
are the Python cost per request without uvicorn's HTTP parsing. The model is a LightGBM booster
trained in-process on the bundled German Credit data with the production parameters and a fixed
number of trees (``--trees``, default 500, about what early stopping keeps for the additive
model), served from a local directory (no MLflow). ``--interactions`` trains without the
one-feature-per-tree constraint, so reason codes come from TreeSHAP instead of lookup tables.

Usage (from the repository root): ``.venv/bin/python benchmarks/api_profile.py [--requests 3000]
[--cprofile [cumulative]] [--cpu RUNS]``. ``--cprofile`` also prints the top functions by own
time. ``--cpu RUNS`` prints only the CPU time (``time.process_time``) per ASGI ``POST /v1/score``,
best of RUNS x ``--requests``: the steadiest before/after figure on a loaded machine (run it
interleaved with ``PYTHONPATH=<old checkout>/src:.`` and ``PYTHONPATH=src:.``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson

from benchmarks.api_bare_app import create_app as create_bare_app
from credit_scoring.api.app import bundled_schema_path, create_app
from credit_scoring.api.model_manager import VersionRef
from credit_scoring.config import Settings
from credit_scoring.data.io import load_german_credit
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.training.lgbm import lgbm_params

try:
    from credit_scoring.scoring.calibration import Calibration
except ImportError:  # checkouts before the scoring layer was split out (e.g. b66abec)
    from credit_scoring.training.lgbm import Calibration  # type: ignore[attr-defined,no-redef]

API_KEY = "profile-key"


class DirSource:
    """Serves one model directory as version 1 of ``models:/credit-scoring@production``, with
    ``reference`` as its drift reference scores (the live score PSI window is then kept, as in
    production)."""

    def __init__(self, model_dir: Path, reference: list[float] | None = None) -> None:
        self.model_dir = model_dir
        self.reference = reference

    def resolve(self) -> VersionRef:
        return VersionRef("credit-scoring", "1", "production", None)

    def download(self, ref: VersionRef, dst: Path) -> Path:
        shutil.copytree(self.model_dir, dst)
        return dst

    def metrics(self, ref: VersionRef) -> dict[str, float]:
        return {}

    def reference_scores(self, ref: VersionRef) -> np.ndarray | None:
        return None if self.reference is None else np.asarray(self.reference, dtype=float)


def _manager(app: Any) -> Any:
    """The app's model manager (``app.state.manager`` in checkouts before ``ApiState``, so that
    ``PYTHONPATH=<old checkout>/src`` profiles the old code with this script)."""
    api = getattr(app.state, "api", None)
    return api.manager if api is not None else app.state.manager


def _service_figure(app: Any, body: bytes, n: int) -> dict[str, float]:
    """``service.score_one`` alone (parse, validate, score, log, answer bytes), when present."""
    try:
        from credit_scoring.api import service
    except ImportError:
        return {}
    api = app.state.api

    def call() -> None:
        state = {"request_id": "profile", "t0": time.perf_counter()}
        service.score_one(api, API_KEY, b"", body, state).body()

    return {"scoring service `score_one` + `body()`, no HTTP": per_call_ms(call, n)}


def build_model(trees: int, additive: bool) -> tuple[CreditModel, list[dict[str, Any]]]:
    """A booster with the production parameters and ``trees`` rounds; plus the applicants."""
    schema = FeatureSchema.load(bundled_schema_path())
    frame = load_german_credit()
    enc = FeatureEncoder(schema)
    y = (frame[schema.target.name] == "bad").astype(int).to_numpy()
    data = lgb.Dataset(
        enc.encode_frame(frame),
        y,
        feature_name=enc.names,
        categorical_feature=enc.categorical_indices,
    )
    params = lgbm_params(schema, 1, len(frame), additive=additive)
    booster = lgb.train(params, data, num_boost_round=trees)
    rows = [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in frame[schema.feature_names].to_dict(orient="records")
    ]
    return CreditModel(booster, schema, ScoreScaling(), Calibration(), rows[:2]), rows


def per_call_ms(fn: Callable[[], Any], n: int) -> float:
    """Best of three runs of ``n`` calls, in ms per call."""
    for _ in range(min(n, 300)):
        fn()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1000


async def per_request_ms(call: Callable[[], Awaitable[Any]], n: int) -> float:
    """Best of three runs of ``n`` awaited requests, in ms per request."""
    for _ in range(min(n, 300)):
        await call()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1000


async def cpu_per_request_ms(call: Callable[[], Awaitable[Any]], n: int, runs: int) -> float:
    """Best of ``runs`` runs of ``n`` awaited requests, in ms of process CPU per request."""
    for _ in range(min(n, 300)):
        await call()
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        for _ in range(n):
            await call()
        best = min(best, (time.process_time() - t) / n)
    return best * 1000


async def run(
    n: int, trees: int, additive: bool, profile: str | None, cpu_runs: int | None = None
) -> None:
    work = Path(tempfile.mkdtemp(prefix="api-profile-"))
    try:
        model, rows = build_model(trees, additive)
        model.save_artifacts(work / "model" / "artifacts")
        settings = Settings(
            home=work / "home", api_keys=API_KEY, reload_interval_s=3600, api_log_level="WARNING"
        )
        reference = [r.score for r in model.score(rows, max_reasons=0)]
        app = create_app(settings, source_factory=lambda: DirSource(work / "model", reference))
        applicant = rows[1]
        body = orjson.dumps(applicant)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/score",
            "raw_path": b"/v1/score",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"x-api-key", API_KEY.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def request() -> None:
            await app(dict(scope), receive, send)

        bare_app = create_bare_app()

        async def bare_request() -> None:
            await bare_app({**scope, "path": "/score", "raw_path": b"/score"}, receive, send)

        async with app.router.lifespan_context(app):
            manager = _manager(app)
            deadline = time.monotonic() + 60
            while manager.current is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("model not loaded: " + str(manager.last_error))
                await asyncio.sleep(0.05)
            await request()
            if statuses != [200]:
                raise RuntimeError(f"POST /v1/score answered {statuses}")
            if cpu_runs:
                ms = await cpu_per_request_ms(request, n, cpu_runs)
                print(f"ms CPU per POST /v1/score (best of {cpu_runs} x {n}): {ms:.4f}")
                return
            served = manager.current.model
            x = served.encoder.encode_records([applicant])
            figures = {
                "ASGI app, POST /v1/score (4 reasons)": await per_request_ms(request, n),
                "bare FastAPI endpoint (baseline)": await per_request_ms(bare_request, n),
                **_service_figure(app, body, n),
                "CreditModel.score, 1 applicant, 4 reasons": per_call_ms(
                    lambda: served.score([applicant], max_reasons=4), n
                ),
                "CreditModel.score, 1 applicant, no reasons": per_call_ms(
                    lambda: served.score([applicant], max_reasons=0), n
                ),
                "Booster.predict(pred_contrib=True, num_threads=1)": per_call_ms(
                    lambda: served.booster.predict(x, pred_contrib=True, num_threads=1), n
                ),
                "Booster.predict(raw_score=True, num_threads=1)": per_call_ms(
                    lambda: served.booster.predict(x, raw_score=True, num_threads=1), n
                ),
            }
            kind = "additive, lookup tables" if served.tables else "interactions, TreeSHAP"
            print(f"| in-process, {trees} trees ({kind}), best of 3 x {n} | ms per call |")
            print("|---|---:|")
            for label, ms in figures.items():
                print(f"| {label} | {ms:.3f} |")
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(n):
                    await request()
                prof.disable()
                pstats.Stats(prof).sort_stats(profile).print_stats(40)
            if set(statuses) != {200}:
                raise RuntimeError(f"unexpected statuses {sorted(set(statuses))}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="calls per timed run")
    parser.add_argument("--trees", type=int, default=500, help="boosting rounds of the model")
    parser.add_argument(
        "--interactions",
        action="store_true",
        help="train without one-feature-per-tree constraints (reason codes from TreeSHAP)",
    )
    parser.add_argument(
        "--cprofile",
        nargs="?",
        const="tottime",
        choices=["tottime", "cumulative"],
        help="print a cProfile of the app, sorted by own (default) or cumulative time",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        metavar="RUNS",
        help="print only the CPU time per ASGI POST /v1/score, best of RUNS x --requests",
    )
    args = parser.parse_args()
    # The API's JSON log handler writes to stderr; WARNING keeps the timed loop quiet.
    os.environ.setdefault("CREDIT_SCORING_API_LOG_LEVEL", "WARNING")
    logging.captureWarnings(True)
    asyncio.run(run(args.requests, args.trees, not args.interactions, args.cprofile, args.cpu))


if __name__ == "__main__":
    main()
