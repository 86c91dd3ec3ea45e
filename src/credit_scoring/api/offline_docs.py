"""``/docs`` that works without internet access (air-gapped banks, CI).

FastAPI's default pages load Swagger UI and ReDoc from a CDN. Here Swagger UI's JS/CSS are served
from the installed ``fastapi-offline`` wheel (a PyPI package that ships the ``swagger-ui-dist``
bundle), as FastAPI's "self-hosting JavaScript and CSS for docs" recipe does; the app is built
with ``docs_url=None, redoc_url=None`` and includes :func:`docs_router`.

``/redoc`` is not served: ReDoc's standalone bundle still fetches its logo from a CDN (the
browser test that forbids any request off the API caught it), and Swagger UI shows the same
OpenAPI document.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

STATIC_PREFIX = "/static/docs"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


def assets_dir() -> Path:
    """Where the installed Swagger UI and ReDoc bundles are."""
    return Path(str(files("fastapi_offline") / "static"))


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """``/docs``, its OAuth2 redirect and its assets, all from the package."""
    router = APIRouter(include_in_schema=False)
    oauth2_redirect = "/docs/oauth2-redirect"
    root = assets_dir()

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=base + oauth2_redirect,
            swagger_js_url=f"{base}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{base}{STATIC_PREFIX}/favicon.png",
        )

    @router.get(oauth2_redirect)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(STATIC_PREFIX + "/{name}")
    async def asset(name: str) -> FileResponse:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no asset {name!r}")
        return FileResponse(
            root / name,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return router
