"""The HTTP ceiling for the API benchmark: a bare FastAPI endpoint returning a constant.

``uvicorn --factory benchmarks.api_bare_app:create_app`` (run from the repository root).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

_BODY = b'{"probability":0.1,"score":650.0,"decision":"approve","reasons":[]}'


def create_app() -> FastAPI:
    """One POST route that ignores its body and returns a constant JSON document.

    FastAPI's native telemetry is off, as in the scoring API, so that the ceiling is the
    cheapest configuration of the same framework.
    """
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/score")
    async def score(request: Request) -> Response:
        await request.body()
        return Response(_BODY, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app
