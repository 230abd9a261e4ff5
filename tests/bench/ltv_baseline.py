"""The library baseline for the B-LTA benchmark: pyHanko used the way its documentation shows,
against the project's own services over HTTP.

One process, one document after another: ``signers.sign_pdf`` with a ``SimpleSigner`` loaded
from the deployment's files, an ``HTTPTimeStamper`` pointed at ``POST /tsa`` and a
``ValidationContext`` that fetches OCSP answers and CRLs from the URLs in the certificates
(``embed_validation_info=True, use_pades_lta=True``). No visible seal, no render, no store,
no ledger: only the signing a library user would write, so the comparison flatters the
baseline.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko_certvalidator import ValidationContext

from certificates.agencies import agency as agency_info
from certificates.home import Home
from certificates.render import FontSet, JobRenderer, Renderer
from signing import load_trust_roots
from signing.pki import AGENCIES_DIR, ISSUING_CERT, ROOT_CERT, SEAL_CERT, SEAL_KEY

from .components import _jobs

__all__ = ["naive_blta_rate", "unsigned_documents"]


def unsigned_documents(count: int) -> list[bytes]:
    """``count`` rendered, not yet sealed certificates (the same renderer as issuance)."""
    fonts = FontSet.discover()
    renderer = JobRenderer(Renderer(fonts))
    return [renderer.render_job(job).pdf for job in _jobs(fonts, count, 80_000_000)]


def naive_blta_rate(
    home: Home, base_url: str, passphrase: str, agency: str, docs: list[bytes]
) -> tuple[float, float]:
    """Documents/s (wall) and CPU ms per document of plain pyHanko B-LTA signing over HTTP."""
    seal_dir = home.pki / AGENCIES_DIR / agency
    signer = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(seal_dir / SEAL_KEY),
        str(seal_dir / SEAL_CERT),
        ca_chain_files=(str(home.pki / ISSUING_CERT), str(home.pki / ROOT_CERT)),
        key_passphrase=passphrase.encode("utf-8"),
    )
    if signer is None:
        raise RuntimeError("pyHanko could not load the seal key and certificate")
    roots = [
        asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
        for c in load_trust_roots(Path(home.trust_roots))
    ]
    info = agency_info(agency)

    def sign(pdf: bytes) -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name="Seal",
            md_algorithm="sha256",
            reason="electronic certificate seal",
            location=info.name_en,
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=True,
            use_pades_lta=True,
            validation_context=ValidationContext(trust_roots=roots, allow_fetching=True),
        )
        timestamper = timestamps.HTTPTimeStamper(f"{base_url}/tsa")
        out = signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer, timestamper=timestamper
        )
        return bytes(out.getvalue())

    sign(docs[0])  # warm-up: imports, first connections
    t0, c0 = time.perf_counter(), time.process_time()
    for pdf in docs[1:]:
        sealed = sign(pdf)
        assert b"/DocTimeStamp" in sealed, "pyHanko did not add the document timestamp"
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(docs) - 1
    return n / seconds, 1000 * cpu / n
