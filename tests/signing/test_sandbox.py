"""The seal-check sandbox: the same report as in process, and the backstops behind the caps
(memory, CPU time, wall-clock time, a full queue) each refuse the document, replace only the
worker that hit them, and leave the pool checking genuine documents."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from signing import (
    DocumentLimitExceeded,
    Pki,
    SealedDocument,
    UnreadablePdfError,
    VerifierBusyError,
    check_seal,
)
from signing.limits import DocumentLimits
from signing.sandbox import SandboxLimits, SealCheckSandbox
from tests import hostile

# Caps off, so that only the sandbox's own limits stand between a document and the worker.
NO_CAPS = DocumentLimits(
    revisions=10**7,
    revisions_after_seal=10**7,
    objects=10**9,
    structure_tokens=10**10,
)


@pytest.fixture()
def sandbox() -> Iterator[SealCheckSandbox]:
    box = SealCheckSandbox(SandboxLimits(workers=1, queue=0))
    yield box
    box.close()


def _now() -> datetime:
    return datetime.now(UTC)


def test_the_report_is_the_in_process_report(
    sandbox: SealCheckSandbox, sealed: SealedDocument, pki: Pki
) -> None:
    now = _now()
    inside = sandbox.check(sealed.pdf, tuple(pki.trust_roots), now=now)
    here = check_seal(sealed.pdf, pki.trust_roots, now=now)
    assert inside == here
    assert inside.passed and inside.signer_certificate == here.signer_certificate


def test_caps_are_applied_in_the_worker(
    sandbox: SealCheckSandbox, sealed: SealedDocument, pki: Pki
) -> None:
    with pytest.raises(DocumentLimitExceeded) as exc:
        sandbox.check(hostile.many_revisions(sealed.pdf, 200), tuple(pki.trust_roots), now=_now())
    assert exc.value.limit == "revisions"
    with pytest.raises(UnreadablePdfError):
        sandbox.check(b"%PDF-1.7 nothing here", tuple(pki.trust_roots), now=_now())


@pytest.mark.parametrize(
    ("limits", "make", "limit"),
    [
        (
            SandboxLimits(workers=1, memory_bytes=256 << 20),
            lambda pdf: hostile.many_small_objects(pdf, 1_000_000),
            "memory",
        ),
        (
            SandboxLimits(workers=1, cpu_seconds=1, wall_seconds=30),
            lambda pdf: hostile.many_revisions(pdf, 3000),
            "time",
        ),
        (
            SandboxLimits(workers=1, cpu_seconds=60, wall_seconds=1),
            lambda pdf: hostile.many_revisions(pdf, 3000),
            "time",
        ),
    ],
    ids=["memory", "cpu", "wall-clock"],
)
def test_a_backstop_refuses_and_replaces_only_its_worker(
    sealed: SealedDocument, pki: Pki, limits: SandboxLimits, make: object, limit: str
) -> None:
    box = SealCheckSandbox(limits, NO_CAPS)
    roots = tuple(pki.trust_roots)
    try:
        assert box.check(sealed.pdf, roots, now=_now()).passed
        (first,) = box.worker_pids()
        started = time.monotonic()
        with pytest.raises(DocumentLimitExceeded) as exc:
            box.check(make(sealed.pdf), roots, now=_now())  # type: ignore[operator]
        assert exc.value.limit == limit
        assert time.monotonic() - started < limits.wall_seconds + 10
        # The next genuine document is checked by a fresh worker.
        assert box.check(sealed.pdf, roots, now=_now()).passed
        assert box.worker_pids() != [first]
    finally:
        box.close()


def test_a_full_queue_says_busy(sealed: SealedDocument, pki: Pki) -> None:
    box = SealCheckSandbox(SandboxLimits(workers=1, queue=0, wall_seconds=20), NO_CAPS)
    roots = tuple(pki.trust_roots)
    slow = hostile.many_revisions(sealed.pdf, 1500)
    try:
        assert box.check(sealed.pdf, roots, now=_now()).passed  # the worker is up
        errors: list[BaseException] = []

        def occupy() -> None:
            try:
                box.check(slow, roots, now=_now())
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=occupy)
        t.start()
        time.sleep(0.5)  # the slow check holds the only worker
        with pytest.raises(VerifierBusyError):
            box.check(sealed.pdf, roots, now=_now())
        t.join()
        assert not errors or isinstance(errors[0], DocumentLimitExceeded)
        assert box.check(sealed.pdf, roots, now=_now()).passed  # free again
    finally:
        box.close()


def test_closed_sandbox_ends_its_workers(sealed: SealedDocument, pki: Pki) -> None:
    box = SealCheckSandbox(SandboxLimits(workers=1))
    box.check(sealed.pdf, tuple(pki.trust_roots), now=_now())
    (pid,) = box.worker_pids()
    box.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"worker {pid} still running after close()")
    with pytest.raises(VerifierBusyError):
        box.check(sealed.pdf, tuple(pki.trust_roots), now=_now())
