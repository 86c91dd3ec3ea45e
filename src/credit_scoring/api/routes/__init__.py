"""The API's endpoints, one module per area.

The scoring routes are added to the app's router itself (:func:`scoring.add_routes`, matched
first); the others are :data:`routers` the app includes.
"""

from __future__ import annotations

from credit_scoring.api.routes import decisions, health, metrics, model, outcomes, scoring, webhooks

__all__ = ["routers", "scoring"]

routers = [
    model.router,
    decisions.router,
    outcomes.router,
    webhooks.router,
    health.router,
    metrics.router,
]
