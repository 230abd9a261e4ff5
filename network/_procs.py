"""Start and stop the network's processes, by PID, and only ours.

Every node runs in its own session with its output in ``logs/<node>.log`` and its PID in
``run/<node>.pid``. Stopping reads the PID file and checks ``/proc/<pid>/cmdline`` still
names the program we started (PIDs are reused) before it sends anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from network._topology import Layout

__all__ = ["alive", "pid_of", "start", "stop"]

# Nodes this process started: kept so they are reaped through their Popen object (and
# Python does not warn that a still-running child was garbage-collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def pid_of(layout: Layout, node: str) -> int | None:
    """The PID of ``node`` if it is running and is the program we started."""
    f = layout.pid_file(node)
    try:
        pid_text, _, marker = f.read_text("utf-8").partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if not cmd or marker.strip() not in " ".join(cmd):
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        if state == b"Z":
            return None
    except (OSError, IndexError):
        return None
    return pid


def alive(layout: Layout, node: str) -> bool:
    return pid_of(layout, node) is not None


def start(layout: Layout, node: str, argv: list[str], env: dict[str, str], *, marker: str) -> int:
    """Start ``argv`` as ``node`` unless it already runs; returns its PID.

    ``marker`` is a string the process's command line must contain for it to count as ours.
    """
    existing = pid_of(layout, node)
    if existing is not None:
        return existing
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CORE_", "ORDERER_"))}
    full_env.update(env)
    with layout.log_file(node).open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (argv built by us)
            argv,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=layout.run,
        )
    layout.pid_file(node).write_text(f"{proc.pid}\n{marker}\n", "utf-8")
    _CHILDREN[proc.pid] = proc
    return proc.pid


def stop(layout: Layout, node: str, *, timeout: float = 10.0, kill: bool = False) -> bool:
    """Stop ``node`` (SIGTERM, then SIGKILL after ``timeout``; ``kill``: SIGKILL at once).

    Returns True when it was running.
    """
    pid = pid_of(layout, node)
    if pid is None:
        layout.pid_file(node).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    child = _CHILDREN.pop(pid, None)
    if child is not None:  # our own child: wait on it directly (this also reaps it)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        layout.pid_file(node).unlink(missing_ok=True)
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_of(layout, node) is None:
            break
        _reap(pid)
        time.sleep(0.05)
    else:
        if pid_of(layout, node) is not None:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                _reap(pid)
                if pid_of(layout, node) is None:
                    break
                time.sleep(0.05)
    _reap(pid)
    layout.pid_file(node).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # A node we started in this process is our child: collect it so it does not linger
    # as a zombie. A node started by another process is not, and waitpid says so.
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
