"""Sample certificates for `certledger init --demo`: one per type, plus holders whose names use
rare characters (CJK Extension A and B), which is where certificate systems usually break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certificates import CERTIFICATE_TYPES
from verify_api.runtime import Runtime

__all__ = ["issue_samples", "sample_rows"]


def sample_rows() -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for code, ctype in CERTIFICATE_TYPES.items():
        rows.append((code, dict(ctype.example)))
    qc = CERTIFICATE_TYPES.get("qualification-certificate")
    if qc is not None:
        for name in ("刘䶮", "王𠇔明"):
            data = dict(qc.example)
            data[qc.holder_name_field] = name
            rows.append((qc.code, data))
    return rows


def issue_samples(rt: Runtime, out_dir: Path) -> list[dict[str, str]]:
    assert rt.issuance is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for code, data in sample_rows():
        agency = CERTIFICATE_TYPES[code].agency
        issued = rt.issuance.issue(agency, code, data)
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
