"""Run the scoring API with uvicorn (``credit-scoring serve``).

One worker per process: metrics and the model live in the process; scale with replicas. The
equivalent container command is
``uvicorn --factory credit_scoring.api.app:create_app --host 0.0.0.0 --port 8000``.
"""

from __future__ import annotations

import uvicorn

from credit_scoring.api.app import create_app
from credit_scoring.api.logs import configure_logging
from credit_scoring.api.slow_clients import protocol_class
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
        # In-flight requests get this long after SIGTERM; then the lifespan closes the ledger
        # spool and ships for at most ledger_shutdown_timeout_s (docs/deployment.md).
        timeout_graceful_shutdown=int(settings.api_graceful_shutdown_s),
        # Slow clients: headers must be complete within api_header_timeout_s (408 + close).
        http=protocol_class(settings.api_header_timeout_s),
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()
