"""The loan-officer workbench: server-rendered pages under ``/ui`` (no frontend build, no JS).

* ``/ui/sign-in``: sign in with an officer, auditor or admin key (see :mod:`.session`);
* ``/ui/score``: the application form generated from the feature schema; a valid application is
  scored by the served model, recorded in the decision ledger (channel ``ui``) and shown;
* ``/ui/decisions/{id}``: the decision: PD, points, band, points gained and lost per feature,
  the principal reasons, what would change the decision, reviews, the review form, the notice;
* ``/ui/queue``: unreviewed "review" decisions; ``/ui/lookup``: find a decision by id;
* ``/ui/decisions/{id}/notice``: the printable adverse action notice of a decline.

Officers score and review, auditors read; admins may do both. Every page needs a session;
every form carries the session's CSRF token. Pages are sent with a strict Content-Security-Policy
(no inline script or style: the stylesheet is ``/ui/static/workbench.css``, the chart is SVG).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from credit_scoring.api.roles import Role, RoleKeys
from credit_scoring.config import Settings
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.decisions.explanation import explanation
from credit_scoring.decisions.notice import NoticeUnavailable, render_notice
from credit_scoring.decisions.queue import pending_reviews
from credit_scoring.decisions.record import decision_record
from credit_scoring.decisions.review import OverrideMetrics, review_decision
from credit_scoring.ledger import DecisionHistory, InvalidRecord, LedgerStore, UnknownDecision
from credit_scoring.predictions.record import APPLICATION_KEY
from credit_scoring.scoring.counterfactual import counterfactuals
from credit_scoring.scoring.explain import breakdown
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.workbench.session import Session, Sessions, SignInThrottle, csrf_ok

logger = logging.getLogger(__name__)
PREFIX = "/ui"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STATIC = {"workbench.css": "text/css"}
UI_ROLES: tuple[Role, ...] = ("officer", "auditor", "admin")


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _static_dir() -> Path:
    return Path(str(files("credit_scoring.workbench") / "static"))


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """First message per field (the form shows it next to the field)."""
    out: dict[str, str] = {}
    for e in exc.errors(include_url=False, include_input=False):
        name = str(e["loc"][0]) if e["loc"] else "form"
        ctx = e.get("ctx") or {}
        msg = {
            "literal_error": "Choose one of the listed values",
            "missing": "Required",
            "less_than_equal": f"Must be at most {ctx.get('le')}",
            "greater_than_equal": f"Must be at least {ctx.get('ge')}",
            "int_parsing": "Enter a whole number",
            "int_from_float": "Enter a whole number",
            "float_parsing": "Enter a number",
        }.get(e["type"], e["msg"])
        out.setdefault(name, msg)
    return out


def _form_values(form: dict[str, str], schema: FeatureSchema) -> dict[str, Any]:
    """Form strings to the application's fields (empty optional fields are absent)."""
    values: dict[str, Any] = {}
    for f in schema.features:
        raw = form.get(f.name, "").strip()
        if raw == "" and not f.required:
            values[f.name] = None
        elif raw != "":
            values[f.name] = raw
    return values


def workbench_router(
    settings: Settings,
    schema: FeatureSchema,
    application_model: type[BaseModel],
    example: dict[str, Any],
    *,
    current: Callable[[Request], Any],
    ledger: Callable[[Request], LedgerStore],
    overrides: Callable[[Request], OverrideMetrics | None] = lambda _: None,
    on_scored: Callable[[Request, str, str], None] = lambda *_: None,
) -> APIRouter:
    """The ``/ui`` pages. Per request: ``current`` gives the served ``LoadedModel`` (or None),
    ``ledger`` the decision ledger, ``overrides`` the override metrics; ``on_scored(request,
    decision, model_version)`` counts a decision."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    keys = RoleKeys(settings)
    sessions = Sessions(settings, keys)
    throttle = SignInThrottle(
        settings.ui_sign_in_max_failures, settings.ui_sign_in_lockout_minutes * 60
    )
    env = Environment(
        loader=PackageLoader("credit_scoring.workbench", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    static_root = _static_dir()
    features = schema.features

    def page(
        request: Request,
        template: str,
        session: Session | None,
        code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = env.get_template(template).render(
            session=session, prefix=PREFIX, title=context.pop("title", "Workbench"), **context
        )
        response = HTMLResponse(html, status_code=code, headers=_HEADERS)
        if session is not None:
            sessions.save(request, response, session)
        return response

    def signed_in(request: Request, needed: tuple[Role, ...] = UI_ROLES) -> Session:
        session = sessions.load(request)
        if session is None or session.role is None:
            raise _Redirect(f"{PREFIX}/sign-in?next={quote(request.url.path)}")
        if not any(session.can(r) for r in needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"this page needs the {' or '.join(needed)} role"
            )
        return session

    async def form_of(request: Request, session: Session | None) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        if not csrf_ok(session, form):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="the form has expired or did not come from this site: reload and retry",
            )
        return form

    def guarded(
        handler: Callable[..., Awaitable[Response]],
    ) -> Callable[..., Awaitable[Response]]:
        """Turn redirects and HTTP errors into pages (the API's handlers answer JSON)."""

        @functools.wraps(handler)
        async def run(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await handler(request, *args, **kwargs)
            except _Redirect as r:
                return RedirectResponse(r.url, status.HTTP_303_SEE_OTHER, headers=_HEADERS)
            except HTTPException as exc:
                session = sessions.load(request)
                return page(
                    request,
                    "error.html.j2",
                    session,
                    code=exc.status_code,
                    title="Problem",
                    message=exc.detail,
                )

        return run

    def served(request: Request) -> Any:
        loaded = current(request)
        if loaded is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="No model is being served yet: try again in a moment.",
            )
        return loaded

    async def history_of(request: Request, decision_id: str) -> DecisionHistory:
        store = ledger(request)
        history = await anyio.to_thread.run_sync(store.get, decision_id)
        if history is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"No decision with id {decision_id!r}."
            )
        return history

    def scaling_for(request: Request, version: str) -> ScoreScaling | None:
        loaded = current(request)
        if loaded is not None and loaded.version == version:
            return getattr(loaded.model, "scaling", None)
        return None

    # --- sign-in -------------------------------------------------------------------------------
    @router.get("")
    async def home(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/score", status.HTTP_303_SEE_OTHER)

    @router.get("/sign-in")
    async def sign_in_form(request: Request, next: str = "") -> Response:
        session = sessions.load(request) or sessions.new()
        return page(request, "sign_in.html.j2", session, title="Sign in", next=next, error=None)

    @router.post("/sign-in")
    @guarded
    async def sign_in(request: Request) -> Response:
        session = sessions.load(request)
        form = await form_of(request, session)
        client = request.client.host if request.client else "unknown"
        name = form.get("name", "").strip()[:80]

        def refused(code: int, error: str, headers: dict[str, str] | None = None) -> Response:
            response = page(
                request,
                "sign_in.html.j2",
                sessions.new(),
                code=code,
                title="Sign in",
                next=form.get("next", ""),
                error=error,
                name=name,
            )
            response.headers.update(headers or {})
            return response

        wait = throttle.locked_for(client)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return refused(
                429,
                f"Too many failed sign-ins from this address: try again in about {minutes} "
                "minute(s).",
                {"Retry-After": str(int(wait) + 1)},
            )
        key = form.get("key", "").strip()
        role = keys.role_of(key)
        if role is None or role not in UI_ROLES:
            if throttle.failed(client):
                logger.warning(
                    "workbench sign-in locked for client %s after %d failed attempts",
                    client,
                    throttle.max_failures,
                )
            return refused(401, "This key is not an officer, auditor or admin key.")
        if not name:
            return refused(401, "Enter your name: it is recorded with your reviews.")
        throttle.succeeded(client)
        target = form.get("next", "")
        if not target.startswith(PREFIX + "/") or target.startswith(PREFIX + "/sign-"):
            target = f"{PREFIX}/score" if role != "auditor" else f"{PREFIX}/lookup"
        response = RedirectResponse(target, status.HTTP_303_SEE_OTHER, headers=_HEADERS)
        sessions.save(request, response, sessions.signed_in(key, role, name))
        return response

    @router.post("/sign-out")
    @guarded
    async def sign_out(request: Request) -> Response:
        await form_of(request, sessions.load(request))
        response = RedirectResponse(f"{PREFIX}/sign-in", status.HTTP_303_SEE_OTHER)
        sessions.clear(response)
        return response

    # --- scoring -------------------------------------------------------------------------------
    def score_page(
        request: Request,
        session: Session,
        values: dict[str, Any],
        errors: dict[str, str],
        code: int = 200,
    ) -> HTMLResponse:
        return page(
            request,
            "score.html.j2",
            session,
            code=code,
            title="Score an application",
            features=features,
            values=values,
            errors=errors,
        )

    @router.get("/score")
    @guarded
    async def score_form(request: Request, example_values: bool = False) -> Response:
        session = signed_in(request, ("officer",))
        values = dict(example) if example_values else {}
        return score_page(request, session, values, {})

    @router.post("/score")
    @guarded
    async def score(request: Request) -> Response:
        session = signed_in(request, ("officer",))
        form = await form_of(request, session)
        values = _form_values(form, schema)
        try:
            application = application_model.model_validate(values)
        except ValidationError as exc:
            return score_page(request, session, values, _field_errors(exc), code=422)
        loaded = served(request)
        inputs = application.model_dump(exclude={APPLICATION_KEY})
        result = loaded.model.score([inputs], max_reasons=settings.max_reasons)[0]
        # A fresh id, not the request id: a client chooses its X-Request-ID, and the ledger is
        # idempotent on decision ids (a reused id would show somebody else's decision).
        decision_id = f"ui-{uuid.uuid4().hex}"
        record = decision_record(
            decision_id,
            model_name=loaded.name,
            model_version=loaded.version,
            inputs=inputs,
            result=result,
            channel="ui",
            request_id=getattr(request.state, "request_id", None),
            officer=session.name,
        )
        store = ledger(request)
        try:
            stored = await anyio.to_thread.run_sync(store.append, [record])
            if stored.inserted != 1:
                raise RuntimeError(f"decision id {decision_id} already in the ledger")
        except Exception as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"The decision could not be recorded in the ledger ({exc}); "
                "nothing was decided: try again.",
            ) from exc
        on_scored(request, result.decision, loaded.version)
        raise _Redirect(f"{PREFIX}/decisions/{quote(decision_id)}")

    # --- decisions -----------------------------------------------------------------------------
    @router.get("/decisions/{decision_id}")
    @guarded
    async def decision_page(request: Request, decision_id: str) -> Response:
        session = signed_in(request)
        history = await history_of(request, decision_id)
        body = history.decision.body
        loaded = current(request)
        same_model = (
            loaded is not None
            and loaded.version == body["model_version"]
            and isinstance(loaded.model, CreditModel)
        )
        parts = cf = None
        if same_model:
            model: CreditModel = loaded.model
            parts = breakdown(model, body["inputs"])
            cf = await anyio.to_thread.run_sync(
                lambda: counterfactuals(model, body["inputs"], schema=schema)
            )
        scaling = scaling_for(request, body["model_version"])
        top = max((abs(f.points) for f in parts.features), default=1.0) if parts else 1.0
        return page(
            request,
            "decision.html.j2",
            session,
            title=f"Decision {decision_id}",
            d=body,
            history=history,
            explained=explanation(history, scaling),
            parts=parts,
            top=top or 1.0,
            cf=cf,
            served_version=loaded.version if loaded else None,
            labels={f.name: f.label for f in features},
        )

    @router.post("/decisions/{decision_id}/review")
    @guarded
    async def review(request: Request, decision_id: str) -> Response:
        session = signed_in(request, ("officer",))
        form = await form_of(request, session)
        await history_of(request, decision_id)
        final = form.get("final_decision", "")
        reason = form.get("reason", "").strip()
        errors = {}
        if final not in ("approve", "decline"):
            errors["final_decision"] = "Choose approve or decline"
        if not reason:
            errors["reason"] = "Give the reason for your decision"
        if errors:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail="; ".join(errors.values())
            )
        store = ledger(request)
        try:
            await anyio.to_thread.run_sync(
                lambda: review_decision(
                    store,
                    decision_id,
                    final_decision=final,
                    reviewer=session.name,
                    reason=reason,
                    role=str(session.role),
                    channel="ui",
                    metrics=overrides(request),
                )
            )
        except (UnknownDecision, InvalidRecord) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
        raise _Redirect(f"{PREFIX}/decisions/{quote(decision_id)}#reviews")

    @router.get("/decisions/{decision_id}/notice")
    @guarded
    async def notice(request: Request, decision_id: str) -> Response:
        signed_in(request)
        history = await history_of(request, decision_id)
        version = str(history.decision.body["model_version"])
        scaling = scaling_for(request, version) or settings.scaling
        try:
            html = render_notice(history, scaling, settings.lender_name)
        except NoticeUnavailable as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
        headers = {
            **_HEADERS,
            "Content-Security-Policy": CSP.replace(
                "style-src 'self'", "style-src 'self' 'unsafe-inline'"
            ),
        }
        return HTMLResponse(html, headers=headers)

    @router.get("/queue")
    @guarded
    async def queue(request: Request) -> Response:
        session = signed_in(request, ("officer",))
        cases = await anyio.to_thread.run_sync(lambda: pending_reviews(ledger(request)))
        return page(request, "queue.html.j2", session, title="Review queue", cases=cases)

    @router.get("/lookup")
    @guarded
    async def lookup(request: Request, decision_id: str = "") -> Response:
        session = signed_in(request)
        wanted = decision_id.strip()
        if wanted:
            store = ledger(request)
            if await anyio.to_thread.run_sync(store.get, wanted) is not None:
                raise _Redirect(f"{PREFIX}/decisions/{quote(wanted)}")
        return page(
            request,
            "lookup.html.j2",
            session,
            title="Look up a decision",
            wanted=wanted,
            missing=bool(wanted),
        )

    @router.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        media_type = _STATIC.get(name)
        if media_type is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no asset {name!r}")
        return FileResponse(
            static_root / name, media_type=media_type, headers={"Cache-Control": "max-age=3600"}
        )

    return router
