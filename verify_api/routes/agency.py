"""The agency console (``/agency``): an agency officer signs in with the agency's issuer
client credential and issues certificates (one from a form generated from the type, or a
batch from a CSV file), finds the agency's certificates, opens one, changes its status with a
confirmation step, and sees who looked it up.

The handlers parse forms, call the application services (``rt.issuing()``,
``rt.statuses()``, :class:`~certificates.issuance.records.AgencyRecords`, the batch service,
``rt.register``) and render their values (``verify_api.web.agency_views``, Jinja2); no
workflow rule lives here. Sign-in, sessions, CSRF and headers are the counter desk's, from
the piece both consoles share (``verify_api.http.console``): the API's own credential check, a
server-side session in the shared console session store, a CSRF token on every form.
"""

# No `from __future__ import annotations`: FastAPI resolves route signatures at definition.
import csv
import functools
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certificates import BatchService, CertificateError, Issued, Principal, StatusChange
from certificates.agencies import AGENCIES
from certificates.errors import CertificateNotFound, ConfigurationError
from certificates.issuance.records import (
    NAME_SCAN_LIMIT,
    STATUSES,
    AgencyRecords,
    SearchQuery,
    correction_values,
)
from certificates.issuance.refusals import BatchRefusal
from certificates.types import CERTIFICATE_TYPES, CertificateDataError, CertificateType
from certificates.types.errors import FieldError
from certificates.verification.report import Message
from verify_api.http.auth import ClientAuth, peer_certificate_fingerprint
from verify_api.http.console import (
    SIGNED_OUT,
    Console,
    api_refusal,
    console_headers,
    console_lang,
    static_answer,
    static_url,
)
from verify_api.http.ids import canonical_id
from verify_api.http.sessions import Session, SessionStore
from verify_api.runtime import Runtime
from verify_api.web.agency_form import form_fields
from verify_api.web.agency_text import AUDIT_WORDS
from verify_api.web.agency_views import Officer, Pages

__all__ = ["AGENCY_COOKIE", "agency_router"]

AGENCY_COOKIE = "certledger_agency"
PRESIGN_COOKIE = "certledger_agency_presign"  # login CSRF: double submit before a session
_PATH = "/agency"
_STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
_OWN = {
    "agency.css": "text/css; charset=utf-8",
    "agency.js": "text/javascript; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# no-store: every page shows the agency's holders' data, or follows from a signed-in session.
_HEADERS = console_headers(CSP, "camera=(), microphone=(), geolocation=()")
_CHANGES = {
    "revoke": StatusChange.REVOKE,
    "suspend": StatusChange.SUSPEND,
    "reinstate": StatusChange.REINSTATE,
}
# What an officer may do from each status (the ledger decides in the end).
_ACTIONS = {
    "active": ("suspend", "revoke"),
    "pending": ("suspend", "revoke"),
    "suspended": ("reinstate", "revoke"),
    "revoked": (),
}

_CSRF_REFUSED = Message(
    "表单已过期或不是从本控制台页面提交的，请重新打开页面后再试。",
    "This form has expired or was not sent from this console's page; reopen the page and "
    "try again.",
)
_SIGNED_OUT = SIGNED_OUT
_NOT_ISSUER = Message(
    "此凭证不是签发机构（issuer）的客户端凭证，不能使用签发控制台。"
    "柜台核验人员请使用柜台核验页面（/counter）；市民的二维码不是登录凭证。",
    "This credential is not an agency's issuer client credential, so it cannot use the "
    "issuing console. Counter clerks use the counter desk (/counter); a citizen's QR code is "
    "not a sign-in credential.",
)
_BAD_FORM = Message(
    "无法读取提交的表单，请返回控制台重新提交。",
    "The form sent cannot be read; go back to the console and send it again.",
)
_NOT_FOUND = Message(
    "没有这份证照，或它不是本机构签发的。",
    "No such certificate, or your agency did not issue it.",
)
_NO_TYPE = Message(
    "本机构不能签发这种证照类型。", "Your agency does not issue this type of certificate."
)
_NO_REASON = Message("请填写原因。", "Please give the reason.")
_BAD_ACTION = Message("请选择要进行的操作。", "Please choose what to do.")
_BAD_DATE = Message(
    "日期格式应为 2026-12-03。", "Dates are written as 2026-12-03 (year-month-day)."
)
_NO_BATCHES = Message("批量签发服务尚未启用。", "The batch service is not enabled.")
_NO_FILE = Message("请选择 CSV 文件。", "Please choose the CSV file.")
# Holder data is encrypted at rest: a deployment opened without the passphrase cannot read it.
_NO_KEYS = Message(
    "本服务启动时未提供密钥口令，无法读取证照数据；请联系系统管理员。",
    "This service was started without the key passphrase, so it cannot read certificate "
    "data; please ask the system administrator.",
)
_NO_BATCH = Message("没有这个批次，或它不属于本机构。", "No such batch, or not your agency's.")
_lang = console_lang


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _asset_url(name: str, data: bytes) -> str:
    return static_url(_PATH, name, data)


def _switch(request: Request, lang: str, path: str | None = None) -> str:
    """This page (or ``path``) in the other language."""
    params = dict(request.query_params) if path is None else {}
    params.pop("lang", None)
    if lang == "zh":
        params["lang"] = "en"
    target = path or request.url.path
    return f"{target}?{urlencode(params)}" if params else target


def _attachment(body: bytes | str, media_type: str, disposition: str) -> Response:
    """A file the console hands out, with the console's headers."""
    return Response(
        body, media_type=media_type, headers={**_HEADERS, "Content-Disposition": disposition}
    )


def _day(value: str) -> date | None:
    return date.fromisoformat(value.strip()) if value.strip() else None


@dataclass
class _Signed:
    session: Session
    who: Principal
    officer: Officer


@dataclass
class _Change:
    """A status change posted (either step): ``problem`` says what is missing."""

    lang: str
    signed: _Signed
    cid: str
    action: str
    reason: str
    problem: Message | None


# A refusal of the issue or correction form: its HTTP status (else 409, a conflict with what
# is on record). Invalid form keys and changed uniqueness fields are the form's own errors.
_REFUSAL_STATUS = {
    "NOT_FOUND": 404,
    "KEY_CHANGED": 422,
    "BAD_IDEMPOTENCY_KEY": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
}


def agency_router(rt: Runtime, auth: ClientAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    files = {name: ((_STATIC / name).read_bytes(), media) for name, media in _OWN.items()}
    pages = Pages(
        css=_asset_url("agency.css", files["agency.css"][0]),
        js=_asset_url("agency.js", files["agency.js"][0]),
    )
    sessions = SessionStore(rt.store)
    records = AgencyRecords(store=rt.store, audit=rt.audit)
    issuer = auth.require("issuer")

    def batches() -> BatchService | None:
        """The batch service, or None in a deployment opened without the keys."""
        try:
            return rt.batches()
        except CertificateError:
            return None

    def own_types(who: Principal) -> list[CertificateType]:
        return [t for t in CERTIFICATE_TYPES.values() if t.agency == who.agency]

    # -- sessions ------------------------------------------------------------------------

    def signed_as(signed: tuple[Session, Principal]) -> _Signed:
        session, who = signed
        agency = AGENCIES.get(who.agency)
        names = (agency.name_zh, agency.name_en) if agency else (who.agency, who.agency)
        return _Signed(session, who, Officer(session.name, names[0], session.csrf))

    def signed_in(request: Request) -> _Signed | None:
        signed = console.signed_in(request)
        return signed_as(signed) if signed is not None else None

    def officer_for(signed: _Signed, lang: str) -> Officer:
        agency = AGENCIES.get(signed.who.agency)
        name = (agency.name_zh if lang == "zh" else agency.name_en) if agency else signed.who.agency
        return Officer(signed.officer.name, name, signed.officer.csrf)

    def page(
        request: Request,
        name: str,
        lang: str,
        signed: _Signed | None,
        *,
        status: int = 200,
        switch_to: str | None = None,
        **values: Any,
    ) -> HTMLResponse:
        values.setdefault("messages", [])
        return _html(
            pages.render(
                name,
                lang=lang,
                officer=officer_for(signed, lang) if signed else None,
                switch_to=switch_to or _switch(request, lang),
                **values,
            ),
            status,
        )

    def message(
        request: Request,
        lang: str,
        signed: _Signed | None,
        messages: list[Message],
        status: int,
        back: str = _PATH,
    ) -> HTMLResponse:
        back_url = back + ("?lang=en" if lang == "en" else "")
        return page(
            request,
            "agency/message.html",
            lang,
            signed,
            status=status,
            switch_to=_switch(request, lang, back),
            messages=messages,
            back=back_url,
        )

    def sign_in_page(
        request: Request, lang: str, presign: str, error: Message | None, status: int
    ) -> HTMLResponse:
        return page(
            request,
            "agency/sign_in.html",
            lang,
            None,
            status=status,
            switch_to=_switch(request, lang, _PATH),
            csrf=presign,
            messages=[error] if error else [],
            certificate=peer_certificate_fingerprint(request.scope) is not None,
        )

    def message_page(
        request: Request,
        lang: str,
        signed: tuple[Session, Principal] | None,
        messages: list[Message],
        status: int,
    ) -> HTMLResponse:
        return message(request, lang, signed_as(signed) if signed else None, messages, status)

    console = Console(
        store=sessions,
        clients=rt.clients,
        role="issuer",
        check=issuer,
        cookie=AGENCY_COOKIE,
        presign=PRESIGN_COOKIE,
        path=_PATH,
        headers=_HEADERS,
        csrf_refused=_CSRF_REFUSED,
        bad_form=_BAD_FORM,
        sign_in_page=sign_in_page,
        message_page=message_page,
        max_fields=64,
        max_files=0,
        role_refused=_NOT_ISSUER,
    )
    sign_in_answer = console.sign_in_answer

    async def signed_post(
        request: Request, *, max_files: int = 0
    ) -> tuple[dict[str, Any], str, _Signed] | HTMLResponse:
        """A posted form of a signed-in officer whose CSRF token matches, or the page that
        says why not (every console form but sign-in goes through here)."""
        post = await console.signed_post(request, max_files=max_files)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, signed = post
        return fields, lang, signed_as(signed)

    # -- sign-in -------------------------------------------------------------------------

    @router.get(_PATH)
    def console_home(request: Request, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        return page(
            request, "agency/home.html", lang, signed, section="home", types=own_types(signed.who)
        )

    router.add_api_route(f"{_PATH}/sign-in", console.sign_in, methods=["POST"])
    router.add_api_route(f"{_PATH}/sign-out", console.sign_out, methods=["POST"])

    # -- issue one -----------------------------------------------------------------------

    @router.get(f"{_PATH}/issue")
    def issue_pick(request: Request, lang: str = "zh") -> Response:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        types = own_types(signed.who)
        if len(types) == 1:
            target = f"{_PATH}/issue/{types[0].code}" + ("?lang=en" if lang == "en" else "")
            return RedirectResponse(target, 303, headers=_HEADERS)
        return page(request, "agency/issue_pick.html", lang, signed, section="issue", types=types)

    def issue_form(
        request: Request,
        lang: str,
        signed: _Signed,
        ctype: CertificateType,
        values: dict[str, str],
        errors: tuple[FieldError, ...] = (),
        *,
        status: int = 200,
        messages: list[Message] | None = None,
        reissue_of: str | None = None,
    ) -> HTMLResponse:
        """The issue form, or with ``reissue_of`` the correction form of that certificate."""
        fields = form_fields(ctype, lang, values, errors)
        known = {f.name for f in ctype.fields}
        general = [Message(e.message_zh, e.message_en) for e in errors if e.field not in known]
        here = f"{_PATH}/certificates/{reissue_of}/reissue" if reissue_of else None
        return page(
            request,
            "agency/issue_form.html",
            lang,
            signed,
            status=status,
            switch_to=_switch(request, lang, here or f"{_PATH}/issue/{ctype.code}"),
            ctype=ctype,
            reissue_of=reissue_of,
            fields=fields,
            # A fresh key per form shown: the browser's resend of one form issues once.
            form_key=secrets.token_urlsafe(24),
            field_errors=[e for e in errors if e.field in known],
            messages=(messages or []) + general,
        )

    def type_for(who: Principal, code: str) -> CertificateType | None:
        ctype = CERTIFICATE_TYPES.get(code)
        return ctype if ctype is not None and ctype.agency == who.agency else None

    @router.get(f"{_PATH}/issue/{{code}}")
    def issue_get(request: Request, code: str, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        ctype = type_for(signed.who, code)
        if ctype is None:
            return message(request, lang, signed, [_NO_TYPE], 404)
        return issue_form(request, lang, signed, ctype, {})

    @router.post(f"{_PATH}/issue/{{code}}")
    async def issue_post(request: Request, code: str) -> Response:
        post = await signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, signed = post
        ctype = type_for(signed.who, code)
        if ctype is None:
            return message(request, lang, signed, [_NO_TYPE], 404)
        values = {f.name: str(fields.get(f.name) or "")[:4000] for f in ctype.fields}
        # An empty box is an absent field: the validator then names a missing required one.
        data = {name: value for name, value in values.items() if value.strip()}
        form_key = str(fields.get("form_key") or "")[:64]
        key = f"agency-console:{form_key}" if form_key else None
        issue = functools.partial(
            rt.issuing().issue_as, signed.who, ctype.code, data, idempotency_key=key
        )
        return await issue_answer(request, lang, signed, ctype, values, issue)

    async def issue_answer(
        request: Request,
        lang: str,
        signed: _Signed,
        ctype: CertificateType,
        values: dict[str, str],
        issue: Callable[[], Issued],
        reissue_of: str | None = None,
    ) -> Response:
        """Runs ``issue`` (an issuance or a re-issue of ``reissue_of``): the issued page, or
        the form again with the refusal's reasons."""
        try:
            issued = await run_in_threadpool(issue)
        except CertificateDataError as exc:
            return issue_form(
                request, lang, signed, ctype, values, exc.errors, status=422, reissue_of=reissue_of
            )
        except BatchRefusal as exc:  # an active one in the way, a changed key, a reused form key
            return issue_form(
                request,
                lang,
                signed,
                ctype,
                values,
                status=_REFUSAL_STATUS.get(exc.code, 409),
                messages=[Message(exc.zh, exc.en)],
                reissue_of=reissue_of,
            )
        except CertificateError as exc:
            status, refusal = await api_refusal(request, exc)
            return issue_form(
                request,
                lang,
                signed,
                ctype,
                values,
                status=status,
                messages=[refusal],
                reissue_of=reissue_of,
            )
        return page(
            request,
            "agency/issued.html",
            lang,
            signed,
            status=201,
            switch_to=_switch(request, lang, f"{_PATH}/certificates/{issued.cert_id}"),
            ctype=ctype,
            issued=issued,
            supersedes=reissue_of,
        )

    # -- correct (re-issue) ------------------------------------------------------------------

    @router.get(f"{_PATH}/certificates/{{cert_id}}/reissue")
    def reissue_get(request: Request, cert_id: str, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        cid = canonical_id(cert_id)
        try:
            if cid is None:
                raise CertificateNotFound
            code, values = correction_values(rt.store, signed.who, cid)
        except CertificateNotFound:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        except ConfigurationError:
            return message(request, lang, signed, [_NO_KEYS], 503)
        ctype = CERTIFICATE_TYPES[code]
        return issue_form(request, lang, signed, ctype, values, reissue_of=cid)

    @router.post(f"{_PATH}/certificates/{{cert_id}}/reissue")
    async def reissue_post(request: Request, cert_id: str) -> Response:
        post = await signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, signed = post
        cid = canonical_id(cert_id)
        if cid is None:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        try:
            code, _stored = correction_values(rt.store, signed.who, cid)
        except CertificateNotFound:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        ctype = CERTIFICATE_TYPES[code]
        values = {f.name: str(fields.get(f.name) or "")[:4000] for f in ctype.fields}
        data = {name: value for name, value in values.items() if value.strip()}
        reissue = functools.partial(rt.issuing().reissue_as, signed.who, cid, data)
        return await issue_answer(request, lang, signed, ctype, values, reissue, reissue_of=cid)

    # -- find, open, change ----------------------------------------------------------------

    @router.get(f"{_PATH}/certificates")
    def search(request: Request, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        q = request.query_params
        form = {k: str(q.get(k, ""))[:200] for k in ("id", "name", "type", "status", "from", "to")}
        # The home page's one box: an id if it looks like one, else a holder name.
        one = str(q.get("q", "")).strip()[:200]
        if one:
            if canonical_id(one) is not None or re.fullmatch(r"[A-Za-z]*[0-9][A-Za-z0-9-]*", one):
                form["id"] = one
            else:
                form["name"] = one
        errors: dict[str, bool] = {}
        dates: dict[str, date | None] = {}
        for key in ("from", "to"):
            try:
                dates[key] = _day(form[key])
            except ValueError:
                errors[key] = True
                dates[key] = None
        try:
            number = max(1, min(int(q.get("page", "1")), 10_000))
        except ValueError:
            number = 1
        types = own_types(signed.who)
        query = SearchQuery(
            cert_id=form["id"],
            holder_name=form["name"],
            cert_type=form["type"] if form["type"] in {t.code for t in types} else "",
            status=form["status"] if form["status"] in STATUSES else "",
            issued_from=dates["from"],
            issued_to=dates["to"],
            page=number,
        )
        try:
            result = None if errors else records.search(signed.who, query)
        except ConfigurationError:
            return message(request, lang, signed, [_NO_KEYS], 503)

        def page_url(n: int) -> str:
            params = {k: v for k, v in form.items() if v}
            params["page"] = str(n)
            if lang != "zh":
                params["lang"] = lang
            return f"{_PATH}/certificates?{urlencode(params)}"

        return page(
            request,
            "agency/search.html",
            lang,
            signed,
            status=422 if errors else 200,
            form=form,
            form_errors=errors,
            messages=[_BAD_DATE] if errors else [],
            types=types,
            statuses=STATUSES,
            type_names={
                t.code: (t.name_zh if lang == "zh" else t.name_en)
                for t in CERTIFICATE_TYPES.values()
            },
            result=result,
            scan_limit=NAME_SCAN_LIMIT,
            page_url=page_url,
        )

    def certificate_page(
        request: Request,
        lang: str,
        signed: _Signed,
        cert_id: str,
        *,
        status: int = 200,
        changed: str = "",
        messages: list[Message] | None = None,
        reason: str = "",
        reason_error: bool = False,
    ) -> HTMLResponse:
        try:
            facts = records.facts(signed.who, cert_id)
        except CertificateNotFound:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        except ConfigurationError:
            return message(request, lang, signed, [_NO_KEYS], 503)
        ctype = CERTIFICATE_TYPES[facts.summary.cert_type]
        names = {c.id: c.name for c in rt.clients.list(signed.who.agency)}
        t_words = {
            "zh": {"public": "公众（二维码页面）", "operator": "本机操作员"},
            "en": {"public": "The public (QR page)", "operator": "Operator at the console"},
        }[lang]

        def client_label(event: Any) -> str:
            if event.client_id in names:
                return f"{names[event.client_id]} ({event.client_id})"
            if event.client_id in t_words:
                return t_words[event.client_id]
            agency = AGENCIES.get(event.agency or "")
            who = (agency.name_zh if lang == "zh" else agency.name_en) if agency else ""
            return f"{who} ({event.client_id})" if who else str(event.client_id)

        words = AUDIT_WORDS[lang]

        def action_label(event: Any) -> str:
            action = words.get(event.action, str(event.action))
            return action + (f" · {event.purpose}" if event.purpose else "")

        def result_label(event: Any) -> str:
            return words.get(event.result, str(event.result))

        return page(
            request,
            "agency/certificate.html",
            lang,
            signed,
            status=status,
            switch_to=_switch(request, lang, f"{_PATH}/certificates/{cert_id}"),
            facts=facts,
            type_name=ctype.name_zh if lang == "zh" else ctype.name_en,
            actions=_ACTIONS.get(facts.summary.status, ()),
            # A correction is the next version, for the current version of a type that has
            # uniqueness fields (the service refuses the rest, with its reasons).
            reissuable=bool(ctype.unique_by) and facts.summary.status in ("active", "suspended"),
            changed=changed,
            messages=messages or [],
            reason=reason,
            reason_error=reason_error,
            client_label=client_label,
            action_label=action_label,
            result_label=result_label,
        )

    @router.get(f"{_PATH}/certificates/{{cert_id}}")
    def open_certificate(
        request: Request, cert_id: str, lang: str = "zh", changed: str = ""
    ) -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        cid = canonical_id(cert_id)
        if cid is None:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        changed = changed if changed in ("revoked", "suspended", "active") else ""
        return certificate_page(request, lang, signed, cid, changed=changed)

    @router.get(f"{_PATH}/certificates/{{cert_id}}/pdf")
    def certificate_pdf(request: Request, cert_id: str, download: str = "") -> Response:
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, "zh", error=_SIGNED_OUT, status=401)
        cid = canonical_id(cert_id)
        try:
            if cid is None:
                raise CertificateNotFound
            stored = rt.register.pdf_for(signed.who, cid)
        except CertificateError:
            return message(request, "zh", signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        disposition = "attachment" if download else "inline"
        return _attachment(
            stored.pdf, "application/pdf", f'{disposition}; filename="{stored.cert_id}.pdf"'
        )

    async def change_posted(request: Request, cert_id: str) -> _Change | HTMLResponse:
        """Both steps' form: a signed-in officer's, for one of the agency's certificates,
        with the change asked for and its reason (``problem`` says what is missing)."""
        post = await signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, signed = post
        cid = canonical_id(cert_id)
        if cid is None:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        action = str(fields.get("action") or "")
        reason = str(fields.get("reason") or "").strip()[:500]
        problem = _BAD_ACTION if action not in _CHANGES else _NO_REASON if not reason else None
        return _Change(lang, signed, cid, action, reason, problem)

    @router.post(f"{_PATH}/certificates/{{cert_id}}/status")
    async def change_ask(request: Request, cert_id: str) -> Response:
        """The first step: what will happen, and a button that does it."""
        change = await change_posted(request, cert_id)
        if isinstance(change, HTMLResponse):
            return change
        lang, signed, cid = change.lang, change.signed, change.cid
        reason, problem = change.reason, change.problem
        if problem is not None:
            return certificate_page(
                request,
                lang,
                signed,
                cid,
                status=422,
                messages=[problem],
                reason=reason,
                reason_error=problem is _NO_REASON,
            )
        return page(
            request,
            "agency/confirm.html",
            lang,
            signed,
            switch_to=_switch(request, lang, f"{_PATH}/certificates/{cid}"),
            cert_id=cid,
            action=change.action,
            reason=reason,
        )

    @router.post(f"{_PATH}/certificates/{{cert_id}}/status/confirm")
    async def change_do(request: Request, cert_id: str) -> Response:
        change = await change_posted(request, cert_id)
        if isinstance(change, HTMLResponse):
            return change
        lang, signed, cid = change.lang, change.signed, change.cid
        if change.problem is not None:
            return certificate_page(
                request, lang, signed, cid, status=422, messages=[change.problem]
            )
        try:
            done = await run_in_threadpool(
                rt.statuses().change, signed.who, cid, _CHANGES[change.action], change.reason
            )
        except CertificateNotFound:
            return message(request, lang, signed, [_NOT_FOUND], 404, f"{_PATH}/certificates")
        except CertificateError as exc:
            status, refusal = await api_refusal(request, exc)
            return certificate_page(request, lang, signed, cid, status=status, messages=[refusal])
        params = {"changed": done.status} | ({"lang": lang} if lang != "zh" else {})
        return RedirectResponse(
            f"{_PATH}/certificates/{cid}?{urlencode(params)}", 303, headers=_HEADERS
        )

    # -- batch ---------------------------------------------------------------------------

    @router.get(f"{_PATH}/batch")
    def batch_form(request: Request, lang: str = "zh", type: str = "") -> HTMLResponse:
        lang = _lang(lang)
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang)
        return page(
            request,
            "agency/batch_form.html",
            lang,
            signed,
            types=own_types(signed.who),
            chosen=type,
            available=batches() is not None,
        )

    @router.get(f"{_PATH}/batch/template/{{name}}")
    def batch_template(request: Request, name: str) -> Response:
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, "zh", error=_SIGNED_OUT, status=401)
        ctype = type_for(signed.who, name.removesuffix(".csv"))
        if ctype is None:
            return message(request, "zh", signed, [_NO_TYPE], 404, f"{_PATH}/batch")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(ctype.field_names)
        writer.writerow([ctype.example.get(n, "") for n in ctype.field_names])
        # A BOM: spreadsheet programs then open the file as UTF-8.
        body = ("\ufeff" + out.getvalue()).encode("utf-8")
        return _attachment(
            body, "text/csv; charset=utf-8", f'attachment; filename="{ctype.code}-template.csv"'
        )

    @router.post(f"{_PATH}/batch")
    async def batch_upload(request: Request) -> Response:
        post = await signed_post(request, max_files=1)
        if isinstance(post, HTMLResponse):
            return post
        fields, lang, signed = post
        service = batches()
        types = own_types(signed.who)

        def again(error: Message, status: int) -> HTMLResponse:
            return page(
                request,
                "agency/batch_form.html",
                lang,
                signed,
                status=status,
                switch_to=_switch(request, lang, f"{_PATH}/batch"),
                types=types,
                chosen=str(fields.get("type") or ""),
                available=service is not None,
                messages=[error],
            )

        if service is None:
            return again(_NO_BATCHES, 503)
        ctype = type_for(signed.who, str(fields.get("type") or ""))
        if ctype is None:
            return again(_NO_TYPE, 422)
        upload = fields.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return again(_NO_FILE, 400)
        data = await upload.read()
        try:
            progress = await run_in_threadpool(service.submit, signed.who, ctype.code, data)
        except BatchRefusal as exc:  # an unusable file: its words, nothing stored
            return again(Message(exc.zh, exc.en), 422)
        except CertificateError as exc:
            status, refusal = await api_refusal(request, exc)
            return again(refusal, status)
        service.start(progress.batch_id)
        target = f"{_PATH}/batch/{progress.batch_id}" + ("?lang=en" if lang == "en" else "")
        return RedirectResponse(target, 303, headers=_HEADERS)

    @router.post(f"{_PATH}/batch/{{batch_id}}/resume")
    async def batch_resume(request: Request, batch_id: str) -> Response:
        """An interrupted batch (its server stopped) goes on from its first waiting row."""
        post = await signed_post(request)
        if isinstance(post, HTMLResponse):
            return post
        _fields, lang, _signed = post
        found = batch_of(request, lang, batch_id)
        if isinstance(found, HTMLResponse):
            return found
        _s, service, progress = found
        if not progress.done:
            service.start(batch_id)
        target = f"{_PATH}/batch/{batch_id}" + ("?lang=en" if lang == "en" else "")
        return RedirectResponse(target, 303, headers=_HEADERS)

    def batch_of(
        request: Request, lang: str, batch_id: str
    ) -> tuple[_Signed, BatchService, Any] | HTMLResponse:
        signed = signed_in(request)
        if signed is None:
            return sign_in_answer(request, lang, error=_SIGNED_OUT, status=401)
        service = batches()
        if service is None:
            return message(request, lang, signed, [_NO_BATCHES], 503, f"{_PATH}/batch")
        try:
            progress = service.progress(signed.who, batch_id)
        except CertificateError:
            return message(request, lang, signed, [_NO_BATCH], 404, f"{_PATH}/batch")
        return signed, service, progress

    @router.get(f"{_PATH}/batch/{{batch_id}}")
    def batch_page(request: Request, batch_id: str, lang: str = "zh") -> HTMLResponse:
        lang = _lang(lang)
        found = batch_of(request, lang, batch_id)
        if isinstance(found, HTMLResponse):
            return found
        signed, service, progress = found
        rows = service.rows(signed.who, batch_id) if progress.done else []
        ctype = CERTIFICATE_TYPES.get(progress.cert_type)
        path = f"{_PATH}/batch/{batch_id}"
        return page(
            request,
            "agency/batch.html",
            lang,
            signed,
            progress=progress,
            rows=rows,
            type_name=(ctype.name_zh if lang == "zh" else ctype.name_en) if ctype else "",
            page_path=path,
            progress_url=f"{path}/progress.json",
        )

    @router.get(f"{_PATH}/batch/{{batch_id}}/progress.json")
    def batch_progress(request: Request, batch_id: str) -> Response:
        found = batch_of(request, "zh", batch_id)
        if isinstance(found, HTMLResponse):
            status = found.status_code
            return Response(
                json.dumps({"error": status}),
                status,
                media_type="application/json",
                headers=_HEADERS,
            )
        _signed, _service, p = found
        body = {
            "batch_id": p.batch_id,
            "total": p.total,
            "issued": p.issued,
            "failed": p.failed,
            "state": p.state,
            "percent": round(float(p.percent), 1),
            "done": bool(p.done),
        }
        return Response(json.dumps(body), media_type="application/json", headers=_HEADERS)

    @router.get(f"{_PATH}/batch/{{batch_id}}/pdfs.zip")
    def batch_zip(request: Request, batch_id: str) -> Response:
        found = batch_of(request, "zh", batch_id)
        if isinstance(found, HTMLResponse):
            return found
        signed, service, _p = found
        out = io.BytesIO()
        # PDFs are compressed already: stored, not deflated again.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name, pdf in service.pdfs(signed.who, batch_id):
                zf.writestr(name if name.endswith(".pdf") else f"{name}.pdf", pdf)
        disposition = f'attachment; filename="{batch_id}.zip"'
        return _attachment(out.getvalue(), "application/zip", disposition)

    @router.get(f"{_PATH}/batch/{{batch_id}}/results.csv")
    def batch_csv(request: Request, batch_id: str) -> Response:
        found = batch_of(request, "zh", batch_id)
        if isinstance(found, HTMLResponse):
            return found
        signed, service, _p = found
        disposition = f'attachment; filename="{batch_id}-results.csv"'
        return _attachment(
            service.manifest_csv(signed.who, batch_id), "text/csv; charset=utf-8", disposition
        )

    # -- static --------------------------------------------------------------------------

    @router.get(f"{_PATH}/static/{{name}}")
    def static_file(name: str, v: str = "") -> Response:
        return static_answer(files, name, v)

    return router
