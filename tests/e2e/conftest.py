"""End-to-end fixtures: a real deployment made by the real CLI, and a real server (uvicorn) on a
free port, spoken to over HTTP."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distinct import distinct, stable_number

PASSPHRASE = "e2e test passphrase, not a secret"
CLI = [sys.executable, "-m", "verify_api"]
# The same command line, killed right after storing sealed certificates (tests/crash_cli.py).
CRASHING_CLI = [sys.executable, "-m", "tests.crash_cli"]
ROOT = str(Path(__file__).resolve().parents[2])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    tokens: dict[str, str]
    base_url: str

    def cli(
        self,
        *args: str,
        check: bool = False,
        extra_env: dict[str, str] | None = None,
        timeout: float = 240,
        program: Sequence[str] = CLI,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, **(extra_env or {}))
        env["PYTHONPATH"] = ROOT  # so that `-m tests.crash_cli` finds the tests package
        proc = subprocess.run(
            [*program, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"certledger {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
            )
        return proc

    def issue_permit(
        self,
        data: Path,
        out: Path,
        *,
        check: bool = False,
        extra_env: dict[str, str] | None = None,
        program: Sequence[str] = CLI,
        more: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """`certledger issue --json` of a road transport permit (agency transport), then
        ``more`` arguments."""
        return self.cli(
            "issue",
            "--agency",
            "transport",
            "--type",
            "road-transport-permit",
            "--data",
            str(data),
            "--out",
            str(out),
            "--json",
            *more,
            check=check,
            extra_env=extra_env,
            program=program,
        )

    def auth(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[agency]}"}


def make_deployment(
    root: Path, port: int | None = None, *, extra_env: dict[str, str] | None = None
) -> Deployment:
    """`certledger init` of a new deployment; ``extra_env`` stays in its environment (e.g. a
    PostgreSQL store's URL)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CERTLEDGER_HOME=str(root), CERTLEDGER_PASSPHRASE=PASSPHRASE)
    env.update(extra_env or {})
    env.pop("CERTLEDGER_BASE_URL", None)
    proc = subprocess.run(
        [*CLI, "init", "--json", "--base-url", base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    return Deployment(root, env, info["tokens"], base_url)


def server_log(dep: Deployment, port: int) -> str:
    return (dep.home.parent / f"server-{port}.log").read_text("utf-8", "replace")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    deployment: Deployment

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def start_server(
    dep: Deployment, extra_env: dict[str, str] | None = None, *, args: Sequence[str] = ()
) -> Server:
    """`certledger serve` on the deployment's port (``args``: more options, e.g. workers)."""
    port = int(dep.base_url.rsplit(":", 1)[1])
    env = dict(dep.env, **(extra_env or {}))
    with (dep.home.parent / f"server-{port}.log").open("wb") as log:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # Generous: on a loaded 2-core machine (a Fabric network and a JVM beside it) the start,
    # which imports the whole service and opens its stores, was seen to take over a minute.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {server_log(dep, port)}")
        try:
            if httpx.get(f"{dep.base_url}/healthz", timeout=1).status_code == 200:
                return Server(dep.base_url, proc, dep)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError(f"server did not become healthy in 180 s: {server_log(dep, port)}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("deployment") / "home")


@pytest.fixture(scope="session")
def server(deployment: Deployment) -> Iterator[Server]:
    # A small upload limit so the 413 test need not send 20 MB.
    srv = start_server(deployment, {"CERTLEDGER_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024)})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def catalogue(deployment: Deployment) -> list[dict[str, Any]]:
    proc = deployment.cli("types", "--json", check=True)
    return list(json.loads(proc.stdout))


def example(catalogue: list[dict[str, Any]], code: str) -> dict[str, Any]:
    """The type's example data, with uniqueness fields no earlier call had (tests/distinct.py):
    each call is another holder's certificate, so issuing it twice is not a duplicate."""
    return distinct(code, next(t for t in catalogue if t["code"] == code)["example"])


def licence_row(catalogue: list[dict[str, Any]], tag: str, n: int) -> dict[str, Any]:
    """Data row ``n`` of a business-licence file tagged ``tag``: the same for the same tag and
    number (a file written again is the same file, hence the same batch), another company's
    for any other (a tag per test: the deployments of a session are shared)."""
    base = next(t for t in catalogue if t["code"] == "business-licence")["example"]
    return distinct("business-licence", base, stable_number(f"licence/{tag}/{n}"))


def write_licence_csv(
    catalogue: list[dict[str, Any]], path: Path, rows: int, *, tag: str, label: str
) -> None:
    """A business-licence batch file of ``rows`` companies (:func:`licence_row` under
    ``tag``), each named after the example with ``label`` and its row number."""
    name = licence_name_field(catalogue)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w: csv.DictWriter[str] | None = None
        for n in range(1, rows + 1):
            row = licence_row(catalogue, tag, n)
            if w is None:
                w = csv.DictWriter(fh, fieldnames=list(row))
                w.writeheader()
            w.writerow({**row, name: f"{row[name]}{label}第{n}分公司"})


def field_of_kind(catalogue: list[dict[str, Any]], code: str, kind: str) -> str:
    t = next(t for t in catalogue if t["code"] == code)
    return str(next(f["name"] for f in t["fields"] if f["kind"] == kind))


def licence_name_field(catalogue: list[dict[str, Any]]) -> str:
    """The business licence's name field (labelled "Name"): what batch tests vary per row."""
    fields = next(t for t in catalogue if t["code"] == "business-licence")["fields"]
    return str(next(f["name"] for f in fields if f["label_en"].lower() == "name"))


def issue_batch_args(
    csv_file: Path, out_dir: Path, *more: str, workers: int | None = 1
) -> list[str]:
    """`certledger issue-batch` of business licences by market-regulation, then ``more``
    (``workers=None``: the command's default)."""
    return [
        "issue-batch",
        "--agency",
        "market-regulation",
        "--type",
        "business-licence",
        "--csv",
        str(csv_file),
        "--out-dir",
        str(out_dir),
        *(() if workers is None else ("--workers", str(workers))),
        *more,
    ]


@pytest.fixture()
def issued(server: Server, catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    """A freshly issued business licence: its API answer plus the sealed PDF bytes and the
    data it was issued with (``data``)."""
    data = example(catalogue, "business-licence")
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=server.deployment.auth("market-regulation"),
            json={"type": "business-licence", "data": data},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        pdf = c.get(body["pdf_url"], headers=server.deployment.auth("market-regulation"))
        assert pdf.status_code == 200
        body["pdf"] = pdf.content
        body["data"] = data
    return body


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run `make install` (Debian package set in the Makefile)"
        )
    return path
