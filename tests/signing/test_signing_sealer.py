from __future__ import annotations

import asyncio
import hashlib
import io
import multiprocessing
import pickle
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from signing_testkit import CERT_ID, PASSPHRASE, SEAL_BOX, require_tool, run_tool

from signing import (
    Pki,
    SealedDocument,
    Sealer,
    SealerSpec,
    SealingError,
    Secret,
    StampFontError,
    Status,
    TimeStampAuthority,
    TimestampError,
    async_check_seal,
    check_seal,
)
from signing.tsa import InProcessTimeStamper


def _seal_signature(pdf: bytes):  # type: ignore[no-untyped-def]
    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = [s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"]
    return reader, sig


def test_round_trip_passes_every_check(sealed: SealedDocument, pki: Pki) -> None:
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.seal_found
    for outcome in (report.intact, report.chain, report.timestamp, report.modification):
        assert outcome.status is Status.PASSED, outcome
    assert report.passed
    assert report.sealed_digest == sealed.sealed_digest
    assert report.signed_at == report.timestamp_time == sealed.signed_at
    assert report.document_info["CertLedgerId"] == CERT_ID
    assert report.signer_certificate == pki.seal("BJ-EDU").certificate
    der = pki.seal("BJ-EDU").certificate.public_bytes(Encoding.DER)
    assert report.signer_fingerprint == hashlib.sha256(der).hexdigest()


def test_sealed_digest_covers_the_whole_fresh_file(sealed: SealedDocument) -> None:
    assert sealed.sealed_digest == hashlib.sha256(sealed.pdf).hexdigest()
    _, sig = _seal_signature(sealed.pdf)
    start, _, start2, len2 = (int(v) for v in sig.byte_range)
    assert start == 0 and start2 + len2 == len(sealed.pdf)


def test_pades_b_t_certification_no_changes(sealed: SealedDocument) -> None:
    reader, sig = _seal_signature(sealed.pdf)
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.docmdp_level == MDPPerm.NO_CHANGES
    assert reader.root["/Perms"].raw_get("/DocMDP").reference == (
        sig.sig_field.raw_get("/V").reference
    )
    assert sig.md_algorithm == "sha256"
    assert sig.signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    unsigned = {a["type"].native for a in sig.signer_info["unsigned_attrs"]}
    assert "signature_time_stamp_token" in unsigned
    signed = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in signed  # PAdES baseline requirement
    assert sig.sig_object["/Reason"] == "颁发学历证书"
    assert sig.sig_object["/Location"] == "北京"


def test_visible_seal_appearance(sealed: SealedDocument) -> None:
    _, sig = _seal_signature(sealed.pdf)
    widget = sig.sig_field
    rect = [float(v) for v in widget["/Rect"]]
    assert rect == list(SEAL_BOX)
    appearance = widget["/AP"]["/N"]
    inner = appearance["/Resources"]["/XObject"]["/CertLedgerSeal"]
    art = inner.data
    assert b" Tj" in art or b"TJ" in art  # text set in a font, not an image
    assert b"0.831373 0 0 rg" in art or b".831373 0 0 rg" in art  # #D40000 fill
    fonts = inner["/Resources"]["/Font"]
    for name in fonts:
        assert "/FontFile2" in fonts[name]["/FontDescriptor"]


def test_signed_at_is_the_timestamp_time(
    pki: Pki, stamp_font: Path, certificate_pdf: bytes
) -> None:
    when = datetime(2026, 5, 1, 8, 0, 0, 250000, tzinfo=UTC)
    tsa = TimeStampAuthority(pki.tsa, clock=lambda: when)
    sealer = Sealer.from_pki(pki, "BJ-EDU", stamp_font, timestamper=InProcessTimeStamper(tsa))
    sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    assert sealed.signed_at == when
    assert check_seal(sealed.pdf, pki.trust_roots).timestamp_time == when


def test_refused_timestamp(
    pki: Pki, stamp_font: Path, certificate_pdf: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # A misconfigured TSA clock (naive datetime) makes the TSA answer systemFailure.
    broken = TimeStampAuthority(pki.tsa, clock=lambda: datetime(2026, 1, 1))
    sealer = Sealer.from_pki(pki, "BJ-EDU", stamp_font, timestamper=InProcessTimeStamper(broken))
    with pytest.raises(TimestampError, match="refused"):
        sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    assert "time-stamp token could not be produced" in caplog.text


def test_negative_page_index(sealer: Sealer, certificate_pdf: bytes, pki: Pki) -> None:
    sealed = sealer.seal(certificate_pdf, page=-1, box=SEAL_BOX, reason="r", location="l")
    assert check_seal(sealed.pdf, pki.trust_roots).passed


@pytest.mark.parametrize(
    ("pdf", "page", "box", "match"),
    [
        (b"", 0, SEAL_BOX, "no %PDF header"),
        (b"hello world", 0, SEAL_BOX, "no %PDF header"),
        (b"%PDF-1.7\n garbage", 0, SEAL_BOX, "cannot be parsed"),
        (None, 1, SEAL_BOX, "page 1 does not exist"),
        (None, -2, SEAL_BOX, "page -2 does not exist"),
        (None, 0, (100.0, 100.0, 50.0, 200.0), "x2 > x1"),
    ],
)
def test_bad_input(
    sealer: Sealer,
    certificate_pdf: bytes,
    pdf: bytes | None,
    page: int,
    box: tuple[float, float, float, float],
    match: str,
) -> None:
    with pytest.raises(SealingError, match=match):
        sealer.seal(
            certificate_pdf if pdf is None else pdf, page=page, box=box, reason="r", location="l"
        )


def test_already_sealed_document_cannot_be_sealed_again(
    sealer: Sealer, sealed: SealedDocument
) -> None:
    with pytest.raises(SealingError):
        sealer.seal(sealed.pdf, page=0, box=(50.0, 50.0, 150.0, 150.0), reason="r", location="l")


def test_font_without_needed_glyphs(pki: Pki) -> None:
    latin_only = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not latin_only.is_file():
        pytest.fail("DejaVu Sans not installed (Debian package fonts-dejavu-core; make install)")
    with pytest.raises(StampFontError, match="no glyph"):
        Sealer.from_pki(pki, "BJ-EDU", latin_only)


def test_missing_font(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(StampFontError, match="cannot load"):
        Sealer.from_pki(pki, "BJ-EDU", tmp_path / "missing.ttf")


def test_concurrent_sealing(sealer: Sealer, certificate_pdf: bytes, pki: Pki) -> None:
    def seal(i: int) -> SealedDocument:
        return sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason=f"r{i}", location="l")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(seal, range(8)))
    assert len({r.sealed_digest for r in results}) == 8
    for result in results:
        assert check_seal(result.pdf, pki.trust_roots).passed


def test_async_seal_inside_a_running_loop(sealer: Sealer, certificate_pdf: bytes, pki: Pki) -> None:
    async def inside_loop() -> None:
        sealed = await sealer.async_seal(
            certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l"
        )
        report = await async_check_seal(sealed.pdf, pki.trust_roots)
        assert report.passed
        # the synchronous API also works from inside a running loop (helper thread)
        again = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
        assert check_seal(again.pdf, pki.trust_roots).passed

    asyncio.run(inside_loop())


def test_spec_is_picklable_and_builds(
    pki_dir: Path, stamp_font: Path, certificate_pdf: bytes, pki: Pki
) -> None:
    spec = SealerSpec(pki_dir=pki_dir, agency_code="SH-HRSS", stamp_font=stamp_font)
    clone = pickle.loads(pickle.dumps(spec))
    assert clone == spec
    assert PASSPHRASE.encode() not in pickle.dumps(spec)
    sealer = clone.build(Secret(PASSPHRASE))
    sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.passed
    assert report.signer_certificate == pki.seal("SH-HRSS").certificate


_worker_sealer: Sealer | None = None


def _init_worker(spec: SealerSpec) -> None:
    global _worker_sealer
    # Each worker decrypts the keys and draws the seal once, then seals many documents.
    _worker_sealer = spec.build(Secret.from_env("CERTLEDGER_PASSPHRASE"))


def _seal_in_worker(pdf: bytes) -> SealedDocument:
    assert _worker_sealer is not None
    return _worker_sealer.seal(pdf, page=0, box=SEAL_BOX, reason="r", location="l")


def test_process_pool(
    pki_dir: Path,
    stamp_font: Path,
    certificate_pdf: bytes,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTLEDGER_PASSPHRASE", PASSPHRASE)
    spec = SealerSpec(pki_dir=pki_dir, agency_code="BJ-EDU", stamp_font=stamp_font)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=2, mp_context=context, initializer=_init_worker, initargs=(spec,)
    ) as pool:
        results = list(pool.map(_seal_in_worker, [certificate_pdf] * 4))
    for result in results:
        assert check_seal(result.pdf, pki.trust_roots).passed


def test_signing_is_fast(sealer: Sealer, certificate_pdf: bytes) -> None:
    """A loose guard against regressions such as re-subsetting the CJK font per seal
    (hundreds of ms). The target on a 2-core machine is a median under 40 ms."""
    durations = []
    for _ in range(7):
        started = time.perf_counter()
        sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
        durations.append(time.perf_counter() - started)
    assert statistics.median(durations) < 0.2


# -- independent tools ----------------------------------------------------------------------


@pytest.fixture()
def sealed_file(tmp_path: Path, sealed: SealedDocument) -> Path:
    path = tmp_path / "sealed-certificate.pdf"
    path.write_bytes(sealed.pdf)
    return path


@pytest.mark.tools
def test_pdfsig_signature_valid(sealed_file: Path) -> None:
    pdfsig = require_tool("pdfsig")
    result = run_tool(pdfsig, sealed_file)
    assert "Signature is Valid." in result.stdout, result.stdout + result.stderr
    assert "Total document signed" in result.stdout
    assert "ETSI.CAdES.detached" in result.stdout


@pytest.mark.tools
def test_pdfsig_with_trusted_root(sealed_file: Path, pki_dir: Path, tmp_path: Path) -> None:
    pdfsig = require_tool("pdfsig")
    certutil = require_tool("certutil")
    nss = tmp_path / "nss"
    nss.mkdir()
    created = run_tool(certutil, "-N", "-d", f"sql:{nss}", "--empty-password")
    assert created.returncode == 0, created.stderr
    added = run_tool(
        certutil, "-A", "-d", f"sql:{nss}", "-n", "certledger-test-root",
        "-t", "CT,C,C", "-i", pki_dir / "trust-roots.pem",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = run_tool(pdfsig, "-nssdir", f"sql:{nss}", sealed_file)
    assert "Signature is Valid." in result.stdout, result.stdout + result.stderr
    assert "Certificate is Trusted." in result.stdout, result.stdout


@pytest.mark.tools
def test_every_font_is_embedded(sealed_file: Path) -> None:
    pdffonts = require_tool("pdffonts")
    result = run_tool(pdffonts, sealed_file)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert rows, "expected at least the body font and the seal font"
    for row in rows:
        columns = row.split()
        # name type encoding emb sub uni object ID: emb is the 4th column from the end
        # of the fixed-width tail ("yes yes yes 6 0")
        assert columns[-5] == "yes", row
    assert b"Helvetica" not in sealed_file.read_bytes()


def _is_seal_red(pixel: object) -> bool:
    r, g, b = pixel  # type: ignore[misc]
    return bool(r > 180 and g < 60 and b < 60)


@pytest.mark.tools
def test_seal_renders_red(sealed_file: Path, tmp_path: Path) -> None:
    pdftoppm = require_tool("pdftoppm")
    from PIL import Image

    out = tmp_path / "page"
    result = run_tool(pdftoppm, "-r", "72", "-png", "-singlefile", sealed_file, out)
    assert result.returncode == 0, result.stderr
    image = Image.open(out.with_suffix(".png")).convert("RGB")
    x1, y1, x2, y2 = SEAL_BOX
    height = image.height
    crop = image.crop((int(x1), int(height - y2), int(x2), int(height - y1)))
    red = sum(
        1
        for x in range(crop.width)
        for y in range(crop.height)
        if _is_seal_red(crop.getpixel((x, y)))
    )
    assert red > 0.05 * crop.width * crop.height


@pytest.mark.tools
def test_signature_timestamp_verifies_with_openssl(
    sealed: SealedDocument, pki_dir: Path, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    _, sig = _seal_signature(sealed.pdf)
    (token,) = [
        a["values"][0]
        for a in sig.signer_info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    ]
    token_file = tmp_path / "signature-timestamp.der"
    token_file.write_bytes(token.dump())
    # RFC 3161 signature timestamps cover the SignerInfo's signature value
    digest = hashlib.sha256(sig.signer_info["signature"].native).hexdigest()
    untrusted = tmp_path / "tsa-and-issuing.pem"
    untrusted.write_bytes(
        (pki_dir / "tsa.pem").read_bytes() + (pki_dir / "issuing-ca.pem").read_bytes()
    )
    result = run_tool(
        openssl, "ts", "-verify", "-digest", digest, "-token_in", "-in", token_file,
        "-CAfile", pki_dir / "trust-roots.pem", "-untrusted", untrusted,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification: OK" in result.stdout


def test_repr_leaves_out_the_document_bytes(sealed: SealedDocument) -> None:
    assert len(repr(sealed)) < 300
    assert re.search(r"sealed_digest='[0-9a-f]{64}'", repr(sealed))
