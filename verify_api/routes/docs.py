"""The interactive API documentation (``/docs``) from Swagger UI assets installed with the
service, never from a public CDN.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN, unpinned and without integrity
checks: a browser opening it would run whatever that CDN serves that day, on the service's
origin. Here the assets come from the ``fastapi-offline`` package, pinned in pyproject.toml
(1.7.7 ships Swagger UI 5.32.6: 5.x is needed for the OpenAPI 3.1 documents FastAPI writes),
and are served under ``/docs/static``. Only the package's files are used, not its app factory.
The page makes no request elsewhere: the spec validator badge, which would send the OpenAPI
document's address to an outside validator, is off. ``/redoc`` is not offered.

The app is created with ``docs_url=None, redoc_url=None``; :func:`install_docs` adds the page.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition.
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["DOCS_PATH", "STATIC_PATH", "install_docs"]

DOCS_PATH = "/docs"
STATIC_PATH = "/docs/static"

_JS = "swagger-ui-bundle.js"
_CSS = "swagger-ui.css"
_FAVICON = "favicon.png"
# Only what the page uses (the package also holds ReDoc's bundle, which is not served).
_SERVED = frozenset({_JS, _CSS, _FAVICON})


class _SwaggerAssets(StaticFiles):
    """The package's directory, limited to the files the page loads."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in _SERVED:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI from the installed package) and its assets on ``app``.
    Nothing is added when the app publishes no OpenAPI document (``openapi_url=None``)."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        return
    assets = Path(str(files("fastapi_offline").joinpath("static")))
    app.mount(STATIC_PATH, _SwaggerAssets(directory=assets), name="swagger-ui-assets")
    title = f"{app.title} - Swagger UI"

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that mounts the service under a path, every URL carries it.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=title,
            swagger_js_url=f"{root}{STATIC_PATH}/{_JS}",
            swagger_css_url=f"{root}{STATIC_PATH}/{_CSS}",
            swagger_favicon_url=f"{root}{STATIC_PATH}/{_FAVICON}",
            # Swagger UI's default validator badge fetches an outside service with the
            # document's address; off, the page talks to this server only.
            swagger_ui_parameters={"validatorUrl": None},
        )
