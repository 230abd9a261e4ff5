"""Start and stop the network's processes, by PID, and only ours.

Every node runs in its own session with its output in ``logs/<node>.log`` and its PID in
``run/<node>.pid``. Stopping reads the PID file and checks ``/proc/<pid>/cmdline`` still
names the program we started (PIDs are reused) before it sends anything.

``Popen`` returns while the child is still inside ``execve``: the kernel lets the parent go on
once the new address space is in place but before the new program's arguments are, so for a
moment (milliseconds on a busy machine) ``/proc/<pid>/cmdline`` reads empty and the node would
look "not ours", or dead. ``start`` therefore returns only once the node's command line names
its program (or it has exited), and a node this process started is judged by its ``Popen``
object, which also knows its exit status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from network._topology import Layout

__all__ = [
    "START_LINE",
    "alive",
    "describe_exit",
    "exit_status",
    "log_since_start",
    "pid_of",
    "start",
    "stop",
]

START_LINE = "--- certledger: starting "
"""Written to a node's log before each start (logs are appended to across restarts), so a
failed start shows what this start wrote, not the end of an earlier run."""

_EXEC_TIMEOUT = 10.0
"""How long ``start`` waits for the new process to show its command line."""

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


def _child(layout: Layout, node: str) -> subprocess.Popen[bytes] | None:
    """The ``Popen`` of ``node`` if this process started the instance its PID file names."""
    try:
        pid = int(layout.pid_file(node).read_text("utf-8").partition("\n")[0])
    except (OSError, ValueError):
        return None
    return _CHILDREN.get(pid)


def alive(layout: Layout, node: str) -> bool:
    child = _child(layout, node)
    if child is not None:  # our own child: its Popen knows, whatever /proc says right now
        return child.poll() is None
    return pid_of(layout, node) is not None


def exit_status(layout: Layout, node: str) -> int | None:
    """The return code of ``node`` if this process started it and it has exited (negative:
    killed by that signal); None while it runs or when another process started it."""
    child = _child(layout, node)
    return None if child is None else child.poll()


def describe_exit(returncode: int | None) -> str:
    """``exited with status 1``, ``was killed by signal 9 (SIGKILL)``, or that it is unknown."""
    if returncode is None:
        return "exited (exit status unknown: another process started it)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-returncode} ({name})"
    return f"exited with status {returncode}"


def log_since_start(layout: Layout, node: str, *, lines: int = 40) -> str:
    """The last ``lines`` lines ``node`` wrote to its log since it was last started."""
    try:
        text = layout.log_file(node).read_text("utf-8", "replace")
    except OSError:
        return ""
    at = text.rfind(START_LINE)
    if at >= 0:
        text = text[at:].partition("\n")[2]
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _wait_exec(proc: subprocess.Popen[bytes], marker: str) -> None:
    """Return once ``proc`` shows a command line naming ``marker``, or has exited."""
    deadline = time.monotonic() + _EXEC_TIMEOUT
    delay = 0.001
    while proc.poll() is None and time.monotonic() < deadline:
        if marker in " ".join(_cmdline(proc.pid)):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def start(layout: Layout, node: str, argv: list[str], env: dict[str, str], *, marker: str) -> int:
    """Start ``argv`` as ``node`` unless it already runs; returns its PID.

    ``marker`` is a string the process's command line must contain for it to count as ours.
    """
    child = _child(layout, node)
    if child is not None:
        if child.poll() is None:
            return child.pid
        # This node's previous instance, exited (and reaped by poll): replaced now. Other
        # nodes' exited children stay, so a failed start can still tell their exit status.
        del _CHILDREN[child.pid]
    existing = pid_of(layout, node)
    if existing is not None:
        return existing
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CORE_", "ORDERER_"))}
    full_env.update(env)
    with layout.log_file(node).open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        log.write(f"{START_LINE}{node} at {stamp} ---\n".encode())
        log.flush()  # before the child appends to the same file
        proc = subprocess.Popen(  # noqa: S603 (argv built by us)
            argv,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=layout.run,
        )
    _CHILDREN[proc.pid] = proc
    _wait_exec(proc, marker)
    # Written once the command line is in place, so whoever reads the PID file (another
    # process: `network status`, `down`) finds the node recognisable as ours.
    pid_file = layout.pid_file(node)
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(f"{proc.pid}\n{marker}\n", "utf-8")
    tmp.replace(pid_file)
    return proc.pid


def stop(layout: Layout, node: str, *, timeout: float = 10.0, kill: bool = False) -> bool:
    """Stop ``node`` (SIGTERM, then SIGKILL after ``timeout``; ``kill``: SIGKILL at once).

    Returns True when it was running.
    """
    child = _child(layout, node)
    if child is not None:  # our own child: signal and wait on it directly (this reaps it)
        running = child.poll() is None
        if running:
            child.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        _CHILDREN.pop(child.pid, None)
        layout.pid_file(node).unlink(missing_ok=True)
        return running
    pid = pid_of(layout, node)
    if pid is None:
        layout.pid_file(node).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
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
