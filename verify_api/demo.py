"""The demo (`make demo`, or ``python -m verify_api.demo``): a deployment with sample
certificates, everything a newcomer needs printed, then the server.

Sample certificates are one per type, plus holders whose names use rare characters (CJK
Extension A and B), which is where certificate systems usually break.

``--host`` and ``--port`` say where it listens, ``--base-url`` what the QR codes carry (the
machine's LAN address, so a phone on the same network can open them). The base URL is baked
into every sample's QR code, so samples are issued again whenever it changes. A demo keeps
its passphrase and its credentials in its own directory (files readable by the owner only);
a real deployment takes the passphrase from a vault and hands tokens out once.
"""

from __future__ import annotations

import argparse
import base64
import csv
import ipaddress
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from certificates import AGENCIES, CERTIFICATE_TYPES, Home, Principal
from certificates.issuance.uniqueness import AlreadyIssued
from certificates.types.codes import resident_id_check_char, uscc_check_char
from verify_api.runtime import Runtime

__all__ = ["DemoOptions", "issue_samples", "main", "parse_args", "sample_rows"]

PASSPHRASE_FILE = ".demo-passphrase"  # noqa: S105  (a file's name, not a secret)
CREDENTIALS_FILE = "demo-credentials.json"
_PASSPHRASE_ENV = "CERTLEDGER_PASSPHRASE"  # noqa: S105  (a variable's name, not a secret)
COUNTER_AGENCY = "market-regulation"  # the demo's counter desk belongs to this agency
_CLI = [sys.executable, "-m", "verify_api"]


def sample_rows() -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for code, ctype in CERTIFICATE_TYPES.items():
        rows.append((code, dict(ctype.example)))
    qc = CERTIFICATE_TYPES.get("qualification-certificate")
    if qc is not None:
        # Two more people (names with rare characters), each with an identity number of
        # their own: one person holds one active certificate per qualification.
        for name, first17 in (("刘䶮", "11010119850612002"), ("王𠇔明", "11010119920115004")):
            data = dict(qc.example)
            data[qc.holder_name_field] = name
            data[qc.holder_field] = first17 + resident_id_check_char(first17)
            rows.append((qc.code, data))
    return rows


def issue_samples(rt: Runtime, out_dir: Path) -> list[dict[str, str]]:
    assert rt.issuance is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for code, data in sample_rows():
        agency = CERTIFICATE_TYPES[code].agency
        try:
            issued = rt.issuance.issue(agency, code, data)
        except AlreadyIssued as exc:
            # Issued before, for another base URL: its next version carries this one's link
            # and supersedes it (the old sample's QR code then says so).
            issued = rt.issuance.reissue_as(Principal.operator(agency), exc.existing_id, data)
        path = out_dir / f"{issued.cert_id}.pdf"
        path.write_bytes(issued.pdf)
        result.append(
            {"id": issued.cert_id, "type": code, "file": str(path), "verify_url": issued.verify_url}
        )
    # The links are printed once by init; keep them beside the sample PDFs (whose QR codes carry
    # the same links) so a restarted demo can show them again.
    (out_dir / "links.txt").write_text(
        "".join(f"{r['id']}  {r['verify_url']}\n" for r in result), "utf-8"
    )
    return result


# -- the options -------------------------------------------------------------------------------


class DemoError(Exception):
    """The demo cannot start as asked; the message says why and what to do, in zh and en."""


@dataclass(frozen=True)
class DemoOptions:
    home: Path
    host: str
    port: int
    base_url: str

    @property
    def tls(self) -> bool:
        """Outside loopback the server speaks HTTPS only (``certledger serve``'s rule)."""
        return not _is_loopback(self.host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: Sequence[str] | None = None) -> DemoOptions:
    p = argparse.ArgumentParser(
        prog="python -m verify_api.demo",
        description="A demo deployment with sample certificates, then the server.",
    )
    p.add_argument("--home", type=Path, default=Path("demo-home"), help="demo directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument(
        "--base-url",
        default="",
        help="address the QR codes carry, e.g. https://192.168.1.20:8443 for a phone on the "
        "LAN (default: http://HOST:PORT)",
    )
    ns = p.parse_args(argv)
    if not 0 < ns.port < 65536:
        p.error(f"--port must be between 1 and 65535, not {ns.port}")
    options = DemoOptions(ns.home, ns.host, ns.port, _base_url(ns.host, ns.port, ns.base_url))
    try:
        _check(options)
    except DemoError as exc:
        p.error(str(exc))
    return options


def _base_url(host: str, port: int, given: str) -> str:
    if given:
        return given.rstrip("/")
    scheme = "http" if _is_loopback(host) else "https"
    wildcard = host in ("0.0.0.0", "::")  # noqa: S104  (names, not a bind)
    shown = "127.0.0.1" if wildcard else host
    return f"{scheme}://{_bracketed(shown)}:{port}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check(options: DemoOptions) -> None:
    parts = urlsplit(options.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DemoError(
            f"--base-url 须为 http(s)://主机[:端口] / --base-url must be http(s)://host[:port], "
            f"not {options.base_url!r}"
        )
    if options.tls and parts.scheme != "https":
        raise DemoError(
            "在非回环地址上演示须使用 HTTPS：请给出 https:// 的 --base-url / outside loopback "
            "the server speaks HTTPS only: give an https:// --base-url"
        )


# -- the run -----------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _private_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _passphrase(home: Path) -> tuple[str, str]:
    """The passphrase and where it comes from: the environment, or the demo's own file."""
    given = os.environ.get("CERTLEDGER_PASSPHRASE")
    if given:
        return given, _PASSPHRASE_ENV
    file = home / PASSPHRASE_FILE
    if not file.exists():
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        _private_write(file, base64.b64encode(secrets.token_bytes(24)).decode() + "\n")
    return file.read_text("utf-8").strip(), str(file)


def _run(env: dict[str, str], *args: str) -> dict[str, Any]:
    # Our own command line, with arguments this module wrote.
    proc = subprocess.run([*_CLI, *args], env=env, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        _fail(f"certledger {args[0]} failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout))


def _new_client(env: dict[str, str], agency: str, name: str, role: str) -> dict[str, Any]:
    return _run(env, "clients", "add", "--agency", agency, "--name", name, "--role", role, "--json")


def _credentials(options: DemoOptions, env: dict[str, str]) -> dict[str, Any]:
    """Initialise the deployment once, and keep what the demo prints on every start: the
    agencies' tokens and a verifier client for the counter desk."""
    file = options.home / CREDENTIALS_FILE
    creds: dict[str, Any] = {}
    if (options.home / "settings.json").exists():
        if file.exists():
            creds = dict(json.loads(file.read_text("utf-8")))
    else:
        info = _run(env, "init", "--json", "--base-url", options.base_url)
        creds["agencies"] = info["tokens"]
    if "agencies" not in creds:
        # A demo made before its credentials were kept: one issuer client per agency now.
        creds["agencies"] = {a: _new_client(env, a, "demo agency console", "issuer")["token"]
                             for a in AGENCIES}  # fmt: skip
    if "counter" not in creds:
        client = _new_client(env, COUNTER_AGENCY, "demo counter desk", "verifier")
        creds["counter"] = {"agency": COUNTER_AGENCY, "id": client["id"], "token": client["token"]}
    _private_write(file, json.dumps(creds, ensure_ascii=False, indent=2))
    return creds


def _samples(options: DemoOptions, env: dict[str, str], passphrase: str) -> list[list[str]]:
    """The samples for this base URL: issued again when the QR codes would carry another."""
    samples = options.home / "samples"
    marker = samples / "base-url.txt"
    links = samples / "links.txt"
    if not (links.exists() and marker.exists() and marker.read_text("utf-8") == options.base_url):
        from signing import Secret
        from verify_api.runtime import open_runtime
        from verify_api.settings import ServiceSettings

        rt = open_runtime(
            Home(options.home),
            passphrase=Secret(passphrase),
            config=ServiceSettings.from_env(env),
        )
        try:
            issue_samples(rt, samples)
        finally:
            rt.close()
        marker.write_text(options.base_url, "utf-8")
    return [line.split("  ", 1) for line in links.read_text("utf-8").splitlines() if line]


def _examples(home: Path) -> tuple[Path, Path]:
    """An issuing request (JSON) and a batch (CSV) to try, in the demo directory."""
    out = home / "examples"
    out.mkdir(parents=True, exist_ok=True)
    licence = CERTIFICATE_TYPES["business-licence"]
    request = out / "issue-business-licence.json"
    # Another company than the sample licence's (which holds the example's credit code): the
    # first try of this request issues, the second is refused as a duplicate.
    first17 = "91110108MA01C2K3X"
    data = {
        **licence.example,
        licence.holder_name_field: "北京示例咨询有限公司",
        licence.holder_field: first17 + uscc_check_char(first17),
    }
    request.write_text(
        json.dumps({"type": licence.code, "data": data}, ensure_ascii=False, indent=2) + "\n",
        "utf-8",
    )
    qc = CERTIFICATE_TYPES["qualification-certificate"]
    batch = out / "qualification-certificates.csv"
    with batch.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in qc.fields])
        writer.writeheader()
        # Three people, three identity numbers (one active certificate per person and
        # qualification: a repeated number would be refused as a duplicate row).
        for name, first17 in (
            ("王小明", "11010119900307003"),
            ("李四", "11010119880521005"),
            ("赵敏", "11010119950809002"),
        ):
            number = first17 + resident_id_check_char(first17)
            writer.writerow({**qc.example, qc.holder_name_field: name, qc.holder_field: number})
    return request, batch


def _print_guide(
    options: DemoOptions,
    creds: dict[str, Any],
    links: list[list[str]],
    passphrase_from: str,
    request: Path,
    batch: Path,
) -> None:
    base = options.base_url
    agencies: dict[str, str] = creds.get("agencies", {})
    issuer = agencies.get("market-regulation", "<market-regulation token>")
    counter = creds["counter"]
    sample_pdf = options.home / "samples" / f"{links[0][0]}.pdf" if links else "<file>.pdf"
    # From the environment: it is set already; from the demo's file: read it there.
    passphrase_env = (
        ""
        if passphrase_from == _PASSPHRASE_ENV
        else f'CERTLEDGER_PASSPHRASE="$(cat {passphrase_from})" '
    )
    lines = [
        "",
        "CertLedger demo / 演示",
        f"  start page / 首页:        {base}/",
        f"  API docs / 接口文档:      {base}/docs",
        "",
        "Citizen page (what the QR code opens) / 公众核验页（扫描证照上的二维码）:",
        *(f"  {cid}  {url}" for cid, url in links),
        "",
        f"Counter desk / 柜台核验:  {base}/counter",
        f"  sign in with the verifier token ({counter['agency']}) / 使用核验员令牌登录:",
        f"  {counter['token']}",
        "",
        f"Agency console / 发证机构控制台:  {base}/agency",
        "  sign in with your agency's token / 使用本机构的令牌登录:",
        *(f"  {agency:20s} {token}" for agency, token in agencies.items()),
        "",
        f"Passphrase of this demo's keys / 密钥口令: {passphrase_from}",
        f"Credentials kept in / 凭据保存在: {options.home / CREDENTIALS_FILE}",
        f"Sample PDFs / 示例证照: {options.home / 'samples'}",
        "",
        "Try it / 试一试:",
        f"  example request / 签发请求示例: {request}",
        f'  curl -H "Authorization: Bearer {issuer}" -H "Content-Type: application/json" '
        f"--data @{request} {base}/api/v1/certificates",
        f"  curl -F file=@{sample_pdf} {base}/api/v1/verify",
        f"  example batch (CSV) / 批量签发示例: {batch}",
        f"  CERTLEDGER_HOME={options.home} {passphrase_env}"
        f"{Path(sys.executable).parent / 'certledger'} issue-batch --agency human-resources "
        f"--type qualification-certificate --csv {batch} --out-dir {options.home / 'batch-out'}",
        "",
    ]
    if options.tls:
        lines += [
            "HTTPS with the demo's own certificate authority: a phone shows a warning until "
            "you accept it. / 使用演示自带的证书，手机浏览器会提示证书不受信任，确认后继续。",
            "",
        ]
    print("\n".join(lines), flush=True)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    options = parse_args(argv)
    home = options.home.absolute()
    options = DemoOptions(home, options.host, options.port, options.base_url)
    passphrase, passphrase_from = _passphrase(home)
    env = dict(
        os.environ,
        CERTLEDGER_HOME=str(home),
        CERTLEDGER_PASSPHRASE=passphrase,
        CERTLEDGER_BASE_URL=options.base_url,
    )
    creds = _credentials(options, env)
    links = _samples(options, env, passphrase)
    request, batch = _examples(home)
    _print_guide(options, creds, links, passphrase_from, request, batch)
    serve = [*_CLI, "serve", "--host", options.host, "--port", str(options.port)]
    if options.tls:
        serve.append("--tls")
    # The server replaces this process: Ctrl-C and SIGTERM reach it directly.
    os.execvpe(serve[0], serve, env)  # noqa: S606


if __name__ == "__main__":
    main()
