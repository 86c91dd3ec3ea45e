"""Run the scoring API with uvicorn (``credit-scoring serve``).

One worker per process: metrics and the model live in the process; scale with replicas. The
equivalent container command is
``uvicorn --factory credit_scoring.api.app:create_app --host 0.0.0.0 --port 8000``.
"""

from __future__ import annotations

import uvicorn

from credit_scoring.api.app import create_app
from credit_scoring.api.logs import configure_logging
from credit_scoring.config import Settings


def serve(host: str, port: int, settings: Settings) -> None:
    """Serve the API on ``host:port`` until SIGINT/SIGTERM (graceful: the log is flushed)."""
    configure_logging(settings.api_log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep the JSON logging configured above
        access_log=False,  # the app writes its own access lines with request ids
        timeout_graceful_shutdown=30,
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()
