"""The scoring service: parse, validate, score, record and answer, without HTTP.

``POST /v1/score`` and ``POST /v1/score/batch`` are thin ASGI wrappers around
:func:`score_one` and :func:`score_batch` (like MLflow's ``scoring_server.invocations``); tests
and benchmarks call the same functions. Each returns a :class:`Scored`: the model version that
answered, the validated inputs, the results and one ``decision_id`` per application; the route
turns it into bytes with :meth:`Scored.body` / :meth:`Scored.batch_body`. Errors are raised
(:class:`InvalidRequest` 422, ``HTTPException`` 401/503) and answered by the app's exception
handlers.

Every answer is recorded first: :func:`record_outcome` writes one decision record per
application to the spool (:mod:`credit_scoring.ledger`) *before* the route sends the response,
then counts the decisions and adds the scores to the served version's PSI window
(:mod:`credit_scoring.api.score_psi`).
When the spool refuses (full or disk error, policy ``reject``) the request gets 503 and no
decision: nothing is answered that is not recorded.

Bodies are validated by pydantic-core's JSON parser straight from the raw bytes: FastAPI's
generic body and dependency machinery costs more than the validation itself on this path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from fastapi import HTTPException, status
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from credit_scoring.api.model_manager import LoadedModel
from credit_scoring.api.responses import InvalidRequest
from credit_scoring.api.state import ApiState
from credit_scoring.ledger.spool import SpoolFull
from credit_scoring.predictions.record import APPLICATION_KEY, DecisionRecord, make_record

#: Upper bound of the ``max_reasons`` query parameter.
MAX_REASONS_LIMIT = 50
#: Batches larger than this are scored in a worker thread so the event loop stays responsive.
THREAD_BATCH_ROWS = 64

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_logger = logging.getLogger("credit_scoring.api")


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of one scoring request: what answered, what was asked and what came out."""

    request_id: str
    loaded: LoadedModel
    records: list[dict[str, Any]]
    results: list[Any]
    #: One per application: the request id for one application, ``<id>-<i>`` in a batch.
    decision_ids: list[str]
    #: The answered JSON object of each application (``result_dict``), built once.
    outputs: list[dict[str, Any]]
    #: The client's ``application_key`` of each application (None where not sent).
    application_keys: list[str | None]

    @property
    def version(self) -> str:
        return self.loaded.version

    def body(self) -> bytes:
        """The ``POST /v1/score`` answer (one application)."""
        out = dict(self.outputs[0])
        out.update(
            decision_id=self.decision_ids[0],
            request_id=self.request_id,
            model_name=self.loaded.name,
            model_version=self.loaded.version,
        )
        if self.application_keys[0] is not None:
            out[APPLICATION_KEY] = self.application_keys[0]
        return orjson.dumps(out, option=_NUMPY)

    def batch_body(self) -> bytes:
        """The ``POST /v1/score/batch`` answer."""
        items = []
        for i, (out, decision_id, key) in enumerate(
            zip(self.outputs, self.decision_ids, self.application_keys, strict=True)
        ):
            item = dict(out)
            item["index"] = i
            item["decision_id"] = decision_id
            if key is not None:
                item[APPLICATION_KEY] = key
            items.append(item)
        body = {
            "request_id": self.request_id,
            "model_name": self.loaded.name,
            "model_version": self.loaded.version,
            "count": len(items),
            "results": items,
        }
        return orjson.dumps(body, option=_NUMPY)


def result_dict(res: Any) -> dict[str, Any]:
    """One ``ScoreResult`` as the JSON object the API answers (``ScoreOut``)."""
    return {
        "probability": res.probability,
        "score": res.score,
        "decision": res.decision,
        "grade": res.grade,
        "reasons": [
            {
                "feature": r.feature,
                "value": r.value,
                "contribution": r.contribution,
                "points": r.points,
                "reason": r.reason,
            }
            for r in res.reasons
        ],
    }


def as_record(application: BaseModel) -> tuple[dict[str, Any], str | None]:
    """A validated application as a plain dict of its features, and its application key. Its
    fields are flat (numbers, category strings, None), so its ``__dict__`` is exactly its
    ``model_dump()``, at a fraction of the cost."""
    record = dict(application.__dict__)
    return record, record.pop(APPLICATION_KEY, None)


def parse(
    api: ApiState, api_key: str | None, query: bytes, body: bytes, model: type[BaseModel]
) -> tuple[BaseModel, int]:
    """Check the scoring key, then validate ``max_reasons`` and the body (422 naming fields)."""
    api.keys.check_scoring(api_key)
    limit = api.settings.max_reasons
    raw_limit = QueryParams(query).get("max_reasons") if query else None
    errors: list[dict[str, Any]] = []
    if raw_limit is not None:
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if raw_limit.isascii() and raw_limit.isdigit() and int(raw_limit) <= MAX_REASONS_LIMIT:
            limit = int(raw_limit)
        else:
            errors.append(
                {
                    "loc": ["query", "max_reasons"],
                    "msg": f"must be an integer from 0 to {MAX_REASONS_LIMIT}",
                    "type": "value_error",
                }
            )
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors += [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    if errors:
        raise InvalidRequest(errors)
    return parsed, limit


def score_one(
    api: ApiState, api_key: str | None, query: bytes, body: bytes, state: dict[str, Any]
) -> Scored:
    """``POST /v1/score`` minus HTTP. ``state`` is the request's state (``request_id``, ``t0``)."""
    application, limit = parse(api, api_key, query, body, api.application_model)
    loaded = api.serving(state)
    record, key = as_record(application)
    result = loaded.model.score([record], max_reasons=limit)[0]
    rid = state["request_id"]
    scored = Scored(rid, loaded, [record], [result], [rid], [result_dict(result)], [key])
    record_outcome(api, state, scored, "api")
    return scored


async def score_batch(
    api: ApiState, api_key: str | None, query: bytes, body: bytes, state: dict[str, Any]
) -> Scored:
    """``POST /v1/score/batch`` minus HTTP: one model version for every application."""
    batch, limit = parse(api, api_key, query, body, api.batch_model)
    loaded = api.serving(state)
    pairs = [as_record(a) for a in batch.applications]  # type: ignore[attr-defined]
    records = [r for r, _ in pairs]
    if len(records) > THREAD_BATCH_ROWS:
        results = await anyio.to_thread.run_sync(
            lambda: loaded.model.score(records, max_reasons=limit)
        )
    else:
        results = loaded.model.score(records, max_reasons=limit)
    rid = state["request_id"]
    api.metrics.batch_size.observe(len(records))
    ids = [f"{rid}-{i}" for i in range(len(records))]
    keys = [k for _, k in pairs]
    scored = Scored(rid, loaded, records, results, ids, [result_dict(r) for r in results], keys)
    record_outcome(api, state, scored, "batch")
    return scored


def record_outcome(api: ApiState, state: dict[str, Any], scored: Scored, channel: str) -> None:
    """One decision record per application written to the spool (503 if it refuses), then
    decision metrics and the optional applicant log."""
    latency_ms = (time.perf_counter() - state["t0"]) * 1000
    ts = datetime.now(UTC)  # one request, one time
    name, version, rid = scored.loaded.name, scored.loaded.version, scored.request_id
    records: list[DecisionRecord] = []
    decisions: dict[str, int] = {}
    window = scored.loaded.score_window
    for decision_id, inputs, res, out, key in zip(
        scored.decision_ids,
        scored.records,
        scored.results,
        scored.outputs,
        scored.application_keys,
        strict=True,
    ):
        records.append(
            make_record(
                decision_id=decision_id,
                request_id=rid,
                model_name=name,
                model_version=version,
                inputs=inputs,
                probability=res.probability,
                score=res.score,
                decision=res.decision,
                reasons=out["reasons"],
                latency_ms=latency_ms,
                channel=channel,
                ts=ts,
                application_key=key,
            )
        )
        decisions[res.decision] = decisions.get(res.decision, 0) + 1
    try:
        api.recorder.record(records)
    except SpoolFull as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"the decision could not be recorded ({exc}); no decision given, retry later",
            headers={"Retry-After": "5"},
        ) from None
    for decision, count in decisions.items():
        api.metrics.decision(decision, version).inc(count)
    if window is not None:  # after the spool took them: only answered scores count
        for res in scored.results:
            window.add(res.score)
    if api.settings.log_applicant_fields:
        _logger.info("scored applicants", extra={"inputs": scored.records})
