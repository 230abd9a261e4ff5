"""/docs is Swagger UI from the installed, pinned package: the page loads its scripts and
styles from this server only, and those answer with the right types."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser

from fastapi import FastAPI

from verify_api.routes.docs import install_docs

with warnings.catch_warnings():
    # Starlette's TestClient warns that it will move from httpx to httpx2 (packaging, not
    # behaviour); as in tests/lookup/conftest.py.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


class _Refs(HTMLParser):
    """Every URL the page would load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.others: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))
        elif tag == "link" and a.get("href"):
            rel = a.get("rel") or ""
            (self.styles if "stylesheet" in rel else self.others).append(str(a["href"]))
        elif a.get("src"):
            self.others.append(str(a["src"]))


def _app() -> FastAPI:
    app = FastAPI(title="certledger", docs_url=None, redoc_url=None)

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    install_docs(app)
    return app


def test_docs_page_loads_nothing_from_elsewhere() -> None:
    with TestClient(_app()) as client:
        r = client.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        refs = _Refs()
        refs.feed(html)
        assert refs.scripts and refs.styles
        for url in [*refs.scripts, *refs.styles, *refs.others]:
            assert url.startswith("/docs/static/"), url
        # No absolute URL anywhere in the page (a CDN, the validator badge's service).
        assert not re.search(r"https?://", html), html
        assert "'/openapi.json'" in html or '"/openapi.json"' in html
        assert '"validatorUrl": null' in html

        (js,) = refs.scripts
        got = client.get(js)
        assert got.status_code == 200
        assert "javascript" in got.headers["content-type"]
        assert b"SwaggerUIBundle" in got.content
        # Swagger UI 5 or later: 4.x cannot render the OpenAPI 3.1 document FastAPI writes.
        version = re.search(rb'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', got.content)
        assert version is not None and int(version.group(1)) >= 5
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
        for css in refs.styles:
            got = client.get(css)
            assert got.status_code == 200
            assert got.headers["content-type"].startswith("text/css")
            assert b".swagger-ui" in got.content
        for icon in refs.others:
            got = client.get(icon)
            assert got.status_code == 200 and got.headers["content-type"] == "image/png"

        assert client.get("/openapi.json").status_code == 200
        assert client.get("/redoc").status_code == 404


def test_only_the_pages_assets_are_served() -> None:
    with TestClient(_app()) as client:
        # The package's ReDoc bundle is not served (/redoc is off), nor anything else.
        for name in ("redoc.standalone.js", "swagger-ui-bundle.js.map", "index.html", "x"):
            assert client.get(f"/docs/static/{name}").status_code == 404, name
        assert client.get("/docs/static/../pyproject.toml").status_code == 404


def test_root_path_prefixes_every_url() -> None:
    with TestClient(_app(), root_path="/certledger") as client:
        html = client.get("/docs").text
        refs = _Refs()
        refs.feed(html)
        for url in [*refs.scripts, *refs.styles, *refs.others]:
            assert url.startswith("/certledger/docs/static/"), url
        assert "/certledger/openapi.json" in html


def test_no_docs_without_an_openapi_document() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_docs(app)
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/docs/static/swagger-ui.css").status_code == 404
