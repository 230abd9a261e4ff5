"""2. Single-process building blocks: the renderer, our Sealer (B-T, visible seal), bare pyHanko
signing (B-B, invisible field, no timestamp) as the library baseline, and in-process
verification (`Verifier.verify_pdf`).

Renderer, sealer and bare signer are timed in interleaved rounds (render N, seal N, sign N, then
again), so each round's three figures saw the same machine state.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from certificates.agencies import agency as agency_info
from certificates.ids import CertificateId
from certificates.issuance.production import ProduceJob
from certificates.render import FontSet, JobRenderer, Renderer
from certificates.types import CERTIFICATE_TYPES, validate_for
from certificates.verification.report import Verdict
from signing import InProcessTimeStamper, Sealer, TimeStampAuthority, load_pki
from signing.pki import AGENCIES_DIR, ISSUING_CERT, ROOT_CERT, SEAL_CERT, SEAL_KEY
from verify_api.runtime import open_runtime
from verify_api.settings import ServiceSettings

from .config import BenchConfig
from .deployment import PASSPHRASE, Deployment, IssuedPool
from .issuance import TYPE_CODE, example_rows
from .machine import CpuWindow
from .stats import Metric, Results

__all__ = ["bench_components", "bench_inprocess_verify"]

SECTION = "2. Single process: library baseline and our components"
VERIFY_SECTION = "3. Upload verification"
BARE_RESERVED = 16384  # hex digits; ample for a P-256 CMS with a 3-certificate chain

Log = Callable[[str], None]


def _jobs(fonts: FontSet, count: int, serial_base: int) -> list[ProduceJob]:
    ctype = CERTIFICATE_TYPES[TYPE_CODE]
    info = agency_info(ctype.agency)
    today = datetime.now(UTC).date()
    jobs = []
    for i, row in enumerate(example_rows(count)):
        values = validate_for(ctype, row, fonts=fonts).values
        cid = str(CertificateId.make(ctype.id_prefix, ctype.agency, today.year, serial_base + i))
        jobs.append(
            ProduceJob(
                cert_id=cid,
                cert_type=ctype.code,
                agency=ctype.agency,
                values=values,
                verify_url=f"http://127.0.0.1:8000/v/{cid}?t=bench-token-not-stored",
                issuer_name_zh=info.name_zh,
                issuer_name_en=info.name_en,
                issued_at=today,
            )
        )
    return jobs


def bench_components(dep: Deployment, cfg: BenchConfig, results: Results, log: Log) -> None:
    ctype = CERTIFICATE_TYPES[TYPE_CODE]
    info = agency_info(ctype.agency)
    pki = load_pki(dep.home.pki, dep.secret)
    fonts = FontSet.discover()
    renderer = JobRenderer(Renderer(fonts))
    # Wired as verify_api.runtime wires the issuing path: in-process TSA, fonts' primary face.
    sealer = Sealer(
        pki.seal(ctype.agency),
        InProcessTimeStamper(TimeStampAuthority(pki.tsa)),
        stamp_font=fonts.primary_path,
        stamp_font_index=fonts.primary_index,
    )
    # The library baseline: pyHanko's own SimpleSigner, loaded once from the deployment's files
    # (encrypted PKCS#8 key, its certificate and the chain).
    seal_dir = dep.home.pki / AGENCIES_DIR / ctype.agency
    simple = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(seal_dir / SEAL_KEY),
        str(seal_dir / SEAL_CERT),
        ca_chain_files=(str(dep.home.pki / ISSUING_CERT), str(dep.home.pki / ROOT_CERT)),
        key_passphrase=PASSPHRASE.encode("utf-8"),
    )
    if simple is None:
        raise RuntimeError("pyHanko could not load the seal key and certificate")
    bare_meta = signers.PdfSignatureMetadata(
        field_name="BenchSignature",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
    )

    # One rendered certificate, the same bytes for the sealer and for bare pyHanko.
    jobs = _jobs(fonts, cfg.component_count, serial_base=90_000_000)
    doc = renderer.render_job(jobs[0])
    reason = f"{info.name_zh} 电子证照签章 / electronic certificate seal"

    def seal_once() -> bytes:
        return sealer.seal(
            doc.pdf, page=doc.seal_page, box=doc.seal_box, reason=reason, location=info.name_en
        ).pdf

    def bare_sign_once(bytes_reserved: int | None = None) -> bytes:
        # No field spec: pyHanko creates an invisible signature field; no timestamper: B-B.
        # Without bytes_reserved pyHanko sizes the signature with a dry-run signature first.
        writer = IncrementalPdfFileWriter(io.BytesIO(doc.pdf))
        out = signers.sign_pdf(writer, bare_meta, signer=simple, bytes_reserved=bytes_reserved)
        return bytes(out.getvalue())

    def bare_sign_reserved() -> bytes:
        return bare_sign_once(BARE_RESERVED)

    # Warm-up (first seal computes the reserved signature size; first sign loads pyHanko paths).
    sealed_len = len(seal_once())
    bare_len = len(bare_sign_once())
    bare_sign_reserved()

    n = cfg.component_count
    render_m = results.metric(
        "components.render.rate", SECTION, "renderer alone (JobRenderer.render_job)", "doc/s"
    )
    seal_m = results.metric(
        "components.seal.rate",
        SECTION,
        "our Sealer.seal (B-T, visible seal, in-process TSA)",
        "doc/s",
    )
    bare_m = results.metric(
        "components.bare_sign.rate",
        SECTION,
        "bare pyHanko sign_pdf + SimpleSigner (B-B, invisible)",
        "doc/s",
        note="library baseline on the same rendered PDF",
    )
    bare_fixed_m = results.metric(
        "components.bare_sign_reserved.rate",
        SECTION,
        f"  same, bytes_reserved={BARE_RESERVED} (no sizing dry run)",
        "doc/s",
    )

    def run(metric: Metric, fn: Callable[[], object]) -> None:
        w = CpuWindow()
        for _ in range(n):
            fn()
        w.stop()
        metric.add(n / w.wall, other_cores=w.other_cores, cpu_ms=1000.0 * w.ours_cpu / n)

    for i in range(cfg.repeats):
        job_iter = iter(jobs * 2)
        run(render_m, lambda: renderer.render_job(next(job_iter)))
        run(seal_m, seal_once)
        run(bare_m, bare_sign_once)
        run(bare_fixed_m, bare_sign_reserved)
        log(
            f"components round {i + 1}/{cfg.repeats}: render {render_m.runs[-1]:.1f}/s, "
            f"seal {seal_m.runs[-1]:.1f}/s, bare sign {bare_m.runs[-1]:.1f}/s "
            f"({bare_fixed_m.runs[-1]:.1f}/s with bytes_reserved)"
        )
    # What one process could do if issuance were only rendering and sealing.
    ceiling = results.metric(
        "components.render_seal_ceiling",
        SECTION,
        "  render + seal ceiling per process (1 / (1/render + 1/seal))",
        "doc/s",
    )
    ceiling.runs.extend(
        1.0 / (1.0 / r + 1.0 / s) for r, s in zip(render_m.runs, seal_m.runs, strict=True)
    )
    results.ratio(
        "components.seal_vs_bare",
        SECTION,
        "  Sealer.seal rate / bare pyHanko rate",
        "components.seal.rate",
        "components.bare_sign.rate",
    )
    results.ratio(
        "components.seal_vs_bare_reserved",
        SECTION,
        "  Sealer.seal rate / bare pyHanko rate with bytes_reserved",
        "components.seal.rate",
        "components.bare_sign_reserved.rate",
    )
    results.ratio(
        "issuance.inproc_vs_ceiling",
        SECTION,
        "  in-process issue_batch rate / render+seal ceiling",
        "issuance.inproc.rate",
        "components.render_seal_ceiling",
        paired=False,
        note="the rest is validation, id allocation, store and ledger anchoring",
    )
    results.facts["document_bytes"] = {
        "rendered": len(doc.pdf),
        "sealed_b_t_visible": sealed_len,
        "bare_b_b_invisible": bare_len,
    }


def bench_inprocess_verify(
    dep: Deployment, cfg: BenchConfig, results: Results, pool: IssuedPool, log: Log
) -> None:
    pdfs = pool.pdfs[: cfg.upload_count]
    m = results.metric(
        "verify.inproc.rate",
        VERIFY_SECTION,
        f"in-process Verifier.verify_pdf, 1 process, {len(pdfs)} distinct PDFs",
        "doc/s",
    )
    rt = open_runtime(
        dep.home, passphrase=None, config=ServiceSettings.from_env()
    )  # read-only, as `certledger verify` opens it
    verdicts: Counter[str] = Counter()
    try:
        rt.verifier.verify_pdf(pdfs[0])  # warm-up
        for i in range(cfg.repeats):
            w = CpuWindow()
            for pdf in pdfs:
                verdicts[rt.verifier.verify_pdf(pdf).verdict.value] += 1
            w.stop()
            m.add(
                len(pdfs) / w.wall,
                other_cores=w.other_cores,
                cpu_ms=1000.0 * w.ours_cpu / len(pdfs),
            )
            log(f"in-process verify: run {i + 1}/{cfg.repeats}: {m.runs[-1]:.1f}/s")
    finally:
        rt.close()
    results.facts["inprocess_verdicts"] = dict(verdicts)
    if set(verdicts) != {Verdict.VALID.value}:
        results.note(f"in-process verification: verdicts other than VALID: {dict(verdicts)}")
