"""Processes the benchmark starts: CLI commands and the server. Each is stopped by PID, with the
PIDs of its descendants collected first (uvicorn's workers, issue-batch's pool workers), so
nothing is left behind and nothing we did not start is touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "BenchProcessError",
    "CliResult",
    "ServerProcess",
    "certledger_command",
    "descendants",
    "free_port",
    "run_cli",
    "start_server",
    "stop_process_tree",
]


class BenchProcessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def certledger_command() -> list[str]:
    """The real `certledger` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "certledger"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("certledger")
    if found:
        return [found]
    return [sys.executable, "-m", "verify_api"]


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name (field 2) is parenthesised and may hold spaces or parentheses.
        tail = stat[stat.rfind(b")") + 2 :].split()
        if len(tail) >= 2:
            out[int(entry)] = int(tail[1])
    return out


def descendants(pid: int) -> list[int]:
    """PIDs of all living descendants of `pid` (Linux /proc), children first."""
    if not os.path.isdir("/proc"):
        return []
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_tree(proc: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """SIGTERM the process (it stops its own workers), wait, then SIGKILL by PID whatever of
    its tree is still alive. Only PIDs that descended from `proc` are ever signalled."""
    tree = descendants(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    # Workers normally exit with their parent; give them a moment, then force them.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.1)
    for p in tree:
        if _alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 300.0, check: bool = True
) -> CliResult:
    """Run `certledger ARGS`; on timeout or interrupt its whole process tree is stopped."""
    cmd = [*certledger_command(), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        stop_process_tree(proc, grace=5)
        proc.communicate()
        raise
    seconds = time.perf_counter() - start
    result = CliResult(
        proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), seconds
    )
    if check and proc.returncode != 0:
        raise BenchProcessError(
            f"certledger {' '.join(args[:2])} exited {proc.returncode}:\n{result.stderr[-2000:]}"
        )
    return result


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-chars:]
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def stop(self) -> None:
        stop_process_tree(self.proc)


def start_server(
    env: Mapping[str, str], port: int, workers: int, log_path: Path, *, timeout: float = 90.0
) -> ServerProcess:
    """`certledger serve --workers N` on 127.0.0.1:port; returns once every worker answers."""
    cmd = [
        *certledger_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_healthy(server, workers, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: ServerProcess, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    ok_in_a_row = 0
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise BenchProcessError(
                    f"the server exited with {server.proc.returncode}:\n{server.log_tail()}"
                )
            try:
                r = client.get(f"{server.url}/healthz", headers={"Connection": "close"})
                ok_in_a_row = ok_in_a_row + 1 if r.status_code == 200 else 0
            except httpx.TransportError:
                ok_in_a_row = 0
            # uvicorn's workers start one after another; several fresh connections answered in
            # a row make it likely that all of them are up before anything is timed.
            if ok_in_a_row >= 4 * workers:
                return
            time.sleep(0.05 if ok_in_a_row else 0.2)
    raise BenchProcessError(f"the server did not become healthy in {timeout:.0f} s")
