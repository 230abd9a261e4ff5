"""The project's independent-validator program (tests/interop/validator: EU DSS 6.4 and
veraPDF, in Java): built once with Maven into a cache outside the repository, keyed by the
digest of its sources, and run with many files per JVM start (a start costs seconds)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "validator"
JAR = "validator.jar"
# DSS's message keys for a certificate that names no revocation service (no CRL distribution
# point or OCSP entry) or no authority information access.
REVOCATION_ACCESS_KEYS = frozenset({"BBB_XCV_REVOC_PRES_ANS", "BBB_XCV_AIA_PRES_ANS"})


class ValidatorUnavailable(Exception):
    """Java, Maven or the build is missing or failed; the reason is the message."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "certledger" / "validators"


def source_digest() -> str:
    """SHA-256 over the pom and every source file (paths and contents)."""
    h = hashlib.sha256()
    files = [SOURCE / "pom.xml", *sorted(p for p in (SOURCE / "src").rglob("*") if p.is_file())]
    for path in files:
        h.update(path.relative_to(SOURCE).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def build(timeout: float = 1200) -> Path:
    """The directory of the built validator (``validator.jar`` and ``lib/``), building it
    first if this version of the sources has never been built. The build goes to a temporary
    directory beside the cache entry and is renamed into place, so a half-done build is never
    found and two concurrent builds cannot mix."""
    target = cache_root() / source_digest()
    if (target / JAR).is_file():
        return target
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or mvn is None:
        missing = " and ".join(n for n, p in (("java", java), ("mvn", mvn)) if p is None)
        raise ValidatorUnavailable(
            f"{missing} not found: the interop tests need Java 17+ and Maven "
            "(Debian packages default-jdk-headless and maven)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        src = work / "src"
        shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns("target"))
        try:
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(src / "pom.xml"), "package"],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ValidatorUnavailable(f"the validator build took over {timeout:.0f} s") from None
        if proc.returncode != 0 or not (src / "target" / JAR).is_file():
            raise ValidatorUnavailable(
                f"the validator build failed (mvn exit {proc.returncode}):\n"
                + _tail(proc.stdout + proc.stderr)
            )
        done = work / "out"
        done.mkdir()
        (src / "target" / JAR).rename(done / JAR)
        (src / "target" / "lib").rename(done / "lib")
        try:
            done.rename(target)
        except OSError:
            if not (target / JAR).is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Message:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


def _messages(items: Iterable[dict[str, str]]) -> tuple[Message, ...]:
    return tuple(Message(m["key"], m["value"]) for m in items)


@dataclass(frozen=True)
class DssTimestamp:
    id: str
    type: str | None
    indication: str
    subindication: str | None
    production_time: str | None
    errors: tuple[Message, ...]
    warnings: tuple[Message, ...]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> DssTimestamp:
        return cls(
            d["id"],
            d["type"],
            d["indication"],
            d["subindication"],
            d["production_time"],
            _messages(d["errors"]),
            _messages(d["warnings"]),
        )


@dataclass(frozen=True)
class DssSignature:
    id: str
    indication: str
    subindication: str | None
    level: str | None
    errors: tuple[Message, ...]
    warnings: tuple[Message, ...]
    timestamps: tuple[DssTimestamp, ...]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> DssSignature:
        return cls(
            d["id"],
            d["indication"],
            d["subindication"],
            d["level"],
            _messages(d["errors"]),
            _messages(d["warnings"]),
            tuple(DssTimestamp.parse(t) for t in d["timestamps"]),
        )


@dataclass(frozen=True)
class DssResult:
    """DSS's verdict on one file: its signatures (with their timestamps), timestamps DSS tied
    to no signature, and every message of the detailed report; or the error it raised."""

    file: str
    signatures: tuple[DssSignature, ...]
    timestamps: tuple[DssTimestamp, ...]
    detailed: tuple[tuple[str, Message], ...]
    error: str | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> DssResult:
        return cls(
            d["file"],
            tuple(DssSignature.parse(s) for s in d.get("signatures", [])),
            tuple(DssTimestamp.parse(t) for t in d.get("timestamps", [])),
            tuple(
                (m["level"], Message(m["key"], m["value"])) for m in d.get("detailed_messages", [])
            ),
            d.get("error"),
        )

    @property
    def total_passed(self) -> bool:
        """DSS's VALID: no error, at least one signature, every signature TOTAL_PASSED."""
        return (
            self.error is None
            and bool(self.signatures)
            and all(s.indication == "TOTAL_PASSED" for s in self.signatures)
        )

    def revocation_access_warnings(self) -> list[Message]:
        return [m for _level, m in self.detailed if m.key in REVOCATION_ACCESS_KEYS]

    def summary(self) -> str:
        """What DSS said, for an assertion message: indications, levels and every error and
        warning, the signatures' and each timestamp's."""
        if self.error is not None:
            return f"{self.file}: DSS raised {_tail(self.error, 12)}"
        lines = [f"{self.file}: {len(self.signatures)} signature(s)"]
        for s in self.signatures:
            lines.append(f"  signature {s.level} {s.indication}/{s.subindication}")
            lines += [f"    error {m}" for m in s.errors]
            lines += [f"    warning {m}" for m in s.warnings]
            for t in s.timestamps:
                lines.append(
                    f"    timestamp {t.type} {t.production_time} {t.indication}/{t.subindication}"
                )
                lines += [f"      error {m}" for m in t.errors]
                lines += [f"      warning {m}" for m in t.warnings]
        for t in self.timestamps:
            lines.append(f"  lone timestamp {t.type} {t.indication}/{t.subindication}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FailedRule:
    clause: str
    test: int
    description: str | None
    count: int

    def __str__(self) -> str:
        return f"{self.clause}-{self.test} ({self.count}x): {self.description}"


@dataclass(frozen=True)
class PdfaResult:
    file: str
    flavour: str
    compliant: bool
    failed_rules: tuple[FailedRule, ...]
    error: str | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> PdfaResult:
        rules = tuple(
            FailedRule(r["clause"], int(r["test"]), r["description"], int(r["count"]))
            for r in d.get("failed_rules", [])
        )
        return cls(d["file"], d["flavour"], bool(d.get("compliant")), rules, d.get("error"))

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.file}: veraPDF raised {_tail(self.error, 12)}"
        return f"{self.file}: PDF/A-{self.flavour} failed rules:\n" + "\n".join(
            f"  {r}" for r in self.failed_rules
        )


@dataclass(frozen=True)
class Validator:
    """Runs the built program; each call is one JVM start for all the files given."""

    home: Path

    def command_line(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise ValidatorUnavailable("java not found (Debian package default-jdk-headless)")
        return [java, "-jar", str(self.home / JAR)]

    def run(self, command: str, options: Sequence[str], files: Sequence[Path | str]) -> Any:
        proc = subprocess.run(
            [*self.command_line(), command, *options, "-"],
            input=json.dumps([str(f) for f in files]),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"validator {command} exited {proc.returncode}:\n{_tail(proc.stderr)}"
            )
        answer = json.loads(proc.stdout)
        assert answer["command"] == command
        return answer["files"]

    def validate(
        self,
        files: Sequence[Path],
        root: Path,
        *,
        policy: str = "default",
        at: datetime | None = None,
    ) -> list[DssResult]:
        """DSS offline (nothing fetched), ``root`` the only trust anchor; ``policy`` is
        ``default``, ``strict`` or a policy file; ``at`` the validation time."""
        options = ["--root", str(root), "--policy", policy]
        if at is not None:
            options += ["--time", at.isoformat()]
        return [DssResult.parse(d) for d in self.run("validate", options, files)]

    def extend(self, files: Sequence[Path], root: Path, tsa: str, out_dir: Path) -> list[Path]:
        """DSS's own extension to PAdES-BASELINE-LTA, fetching only from 127.0.0.1."""
        options = ["--root", str(root), "--tsa", tsa, "--out-dir", str(out_dir)]
        results = self.run("extend", options, files)
        failed = [r for r in results if r.get("error")]
        assert not failed, "DSS could not extend:\n" + "\n".join(
            f"{r['file']}: {_tail(r['error'], 12)}" for r in failed
        )
        return [Path(r["out"]) for r in results]

    def pdfa(self, files: Sequence[Path], flavour: str = "2b") -> list[PdfaResult]:
        return [PdfaResult.parse(d) for d in self.run("pdfa", ["--flavour", flavour], files)]
