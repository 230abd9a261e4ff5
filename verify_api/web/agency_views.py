"""The agency console's pages: Jinja2 templates (``verify_api/web/templates``) with
autoescape on, filled from the services' values. Markup and words only, no rule.

No inline script and no ``style`` attribute in any template, so the pages run under the
console's strict Content-Security-Policy; behaviour comes from ``agency.js``, looks from
``agency.css``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from certificates.issuance.records import AGENCY_TZ
from certificates.types import format_date_en, format_date_zh
from verify_api.web.agency_text import TEXT

__all__ = ["Officer", "Pages"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Officer:
    """Who is signed in (shown in the bar) and the session's CSRF token (in every form)."""

    name: str
    agency_name: str
    csrf: str

    def __repr__(self) -> str:
        return f"Officer(name={self.name!r})"


def _url(path: str, lang: str, **params: object) -> str:
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if lang != "zh":
        query["lang"] = lang
    return f"{path}?{urlencode(query)}" if query else path


class Pages:
    def __init__(self, *, css: str, js: str) -> None:
        self._env = Environment(
            loader=FileSystemLoader(str(_TEMPLATES)),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,  # a misspelt name fails the test, not the page silently
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._css = css
        self._js = js

    def render(self, name: str, *, lang: str, officer: Officer | None, **values: Any) -> str:
        t = TEXT[lang]

        def when(at: datetime | None, seconds: bool = False) -> str:
            if at is None:
                return t["none"]
            aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
            return f"{aware.astimezone(AGENCY_TZ).strftime(fmt)} {t['tz']}"

        def when_text(at: str) -> str:
            try:
                return when(datetime.fromisoformat(at.replace("Z", "+00:00")), True)
            except ValueError:
                return at

        def day(value: date | None) -> str:
            if value is None:
                return t["long_term"]
            return format_date_zh(value) if lang == "zh" else format_date_en(value)

        def url(path: str, **params: object) -> str:
            return _url(path, lang, **params)

        def pick(zh: str, en: str | None) -> str:
            return zh if lang == "zh" or not en else en

        other = "en" if lang == "zh" else "zh"
        return self._env.get_template(name).render(
            t=t,
            lang=lang,
            html_lang="zh-CN" if lang == "zh" else "en",
            other_lang_tag="en" if other == "en" else "zh-CN",
            officer=officer,
            css=self._css,
            js=self._js,
            when=when,
            when_text=when_text,
            day=day,
            url=url,
            pick=pick,
            **values,
        )
