"""Runs the audit writer service (``certificates.audit.writer``) beside ``certledger serve``.

``serve`` starts one writer process before the workers, tells them where it listens through
``CERTLEDGER_AUDIT_SOCKET``, restarts it if it dies (workers answer audited requests with 503
meanwhile: no answer leaves without its entry), and stops it after the workers, so the
entries of their last requests are written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from certificates import ConfigurationError

__all__ = ["SOCKET_ENV", "AuditWriterProcess"]

log = logging.getLogger("certledger.audit.writer")

SOCKET_ENV = "CERTLEDGER_AUDIT_SOCKET"
_START_TIMEOUT = 30.0
_RESTART_DELAY = 0.5
_SECRETS = frozenset({"CERTLEDGER_PASSPHRASE", "CERTLEDGER_HSM_PIN"})


class AuditWriterProcess:
    """One writer process for a deployment's home, supervised from a thread."""

    def __init__(self, home: Path) -> None:
        self._home = home
        # A private directory (0700) for the socket: only this user can reach it. Short, so
        # the path fits the 107 bytes a Unix socket address allows wherever the home is.
        self._dir = tempfile.mkdtemp(prefix="certledger-audit-")
        self.socket_path = os.path.join(self._dir, "audit.sock")
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="audit-writer-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self) -> None:
        # Our own interpreter and module, the home and a path we made: no outside input.
        self._proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "verify_api",
                "--home",
                str(self._home),
                "audit",
                "writer",
                "--socket",
                self.socket_path,
                "--parent",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            # It opens the database and nothing else: no key passphrase, no token PIN.
            env={k: v for k, v in os.environ.items() if k not in _SECRETS},
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._listening():
            if self._proc.poll() is not None:
                raise ConfigurationError(
                    f"the audit writer did not start (exit status {self._proc.returncode})"
                )
            if time.monotonic() > deadline:
                self._proc.kill()
                raise ConfigurationError("the audit writer did not start in time")
            time.sleep(0.05)

    def _listening(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(self.socket_path)
            except OSError:
                return False
        return True

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self._proc
            assert proc is not None
            status = proc.wait()
            if self._stopping.is_set():
                return
            log.error("the audit writer exited (status %s); restarting it", status)
            if self._stopping.wait(_RESTART_DELAY):
                return  # stopped meanwhile: no new writer after stop()
            try:
                self._spawn()
            except ConfigurationError as exc:
                log.error("%s; retrying", exc)

    def stop(self) -> None:
        """Stop the writer (after the workers): it finishes the batch it is writing."""
        self._stopping.set()
        proc = self._proc
        _end(proc)
        if self._supervisor is not None:
            self._supervisor.join(timeout=_START_TIMEOUT + 5)
        if self._proc is not proc:  # one the supervisor was already starting when stop() began
            _end(self._proc)
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)


def _end(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (the writer answers the batch it is writing, then exits), SIGKILL if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
