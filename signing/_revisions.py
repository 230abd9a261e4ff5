"""Strict after-sealing change analysis over a PDF's incremental revisions.

A sealed certificate is certified with DocMDP P=1: no change of any kind. The only revisions
that may follow the seal add long-term-validation material: DSS/VRI data and document
timestamps (with their signature fields and widgets). The rules, for every revision after the
seal:

1. Every object the revision defines must be explained by that material, by pyHanko's
   difference analysis run with a stricter policy than its default: no rule for ``/Info`` or
   the XMP metadata (pyHanko's default exempts both), no catalog key but ``/AcroForm``,
   ``/DSS`` and ``/Extensions`` may change, no object may be freed, and objects that nothing
   references are not waved through (an orphan can still be reached by a reference that the
   sealed revision made to an object number it had not defined yet).
2. No later revision may add a signature other than a document timestamp.
3. ``/Info`` and the XMP metadata are compared in full: no key is exempt, not even the dates
   and the producer that ordinary writers refresh on each save (the project's own writer for
   these revisions leaves them alone, :mod:`signing._update_writer`).
4. The trailer keeps the sealed revision's ``/Root``, ``/Info`` and first ``/ID`` and gains no
   key beyond those every incremental update writes.
5. Nothing but whitespace may follow the last ``%%EOF``.

Rule 1 also rejects new or changed annotations, page content, form fields and visible
widgets, which closes the usual "shadow" overlays; rules 3 and 4 are checked separately
because they give a clearer reason than pyHanko's list of unexplained objects.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.metadata import xmp_xml
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from signing._diff_policy import STRICT_POLICY
from signing.models import Outcome

__all__ = ["LaterSignature", "analyse_modifications", "document_info", "page_count"]

# Trailer keys every incremental update rewrites (pyHanko leaves the cross-reference stream
# keys out of its trailer view already). Every other key must keep the sealed value.
_TRAILER_UPDATE_KEYS = frozenset({"/Size", "/Prev", "/ID"})
_MAX_DETAIL = 240


@dataclass(frozen=True)
class LaterSignature:
    """A signature field filled after the seal: its name, /Type and revision."""

    field_name: str
    sig_type: str
    revision: int


def _text(value: generic.PdfObject) -> str | None:
    if isinstance(value, generic.TextStringObject):
        return str(value)
    if isinstance(value, generic.ByteStringObject):
        raw: bytes = value.original_bytes
        return raw.decode("latin-1")
    if isinstance(value, generic.NameObject):
        return str(value)[1:]
    if isinstance(value, generic.BooleanObject | generic.NumberObject | generic.FloatObject):
        return str(value)
    return None


def document_info(resolver: HistoricalResolver) -> dict[str, str]:
    """The ``/Info`` entries of one revision as text, names without the slash.

    Entries whose values are not strings, names, numbers or booleans are left out.
    """
    try:
        raw = resolver.trailer_view.raw_get("/Info")
    except KeyError:
        return {}
    # Resolve through the resolver itself: the flattened trailer's references would
    # otherwise resolve against the newest revision, reporting edits made after sealing
    # as if they had been sealed.
    info = resolver(raw.reference) if isinstance(raw, generic.IndirectObject) else raw
    if not isinstance(info, generic.DictionaryObject):
        return {}
    result: dict[str, str] = {}
    for key in info:
        text = _text(info[key])
        if text is not None:
            result[str(key)[1:]] = text
    return result


def _xmp(resolver: HistoricalResolver) -> object:
    """A comparable view of the XMP metadata of one revision (None if absent).

    Every property counts, the dates and the producer included; the raw bytes count too,
    so a change that parses to the same properties (a comment, an extra packet) is still
    a change.
    """
    try:
        ref = resolver.root.get_value_as_reference("/Metadata")
    except KeyError:
        return None
    except Exception:
        return ("not-a-reference", repr(resolver.root.raw_get("/Metadata")))
    # Resolve through the reference (as pyHanko's own metadata rule does): reading it
    # via ``root["/Metadata"]`` asks for a metadata-stream wrapper that historical
    # revisions cannot produce.
    stream = ref.get_object()
    if not isinstance(stream, generic.StreamObject):
        return ("not-a-stream", repr(stream))
    data = stream.read_data(DecodePurpose.XMP_METADATA)
    try:
        structures = xmp_xml.parse_xmp(io.BytesIO(data))
    except Exception:
        return ("unparseable", data)
    return data, sorted(
        (str(name), repr(value)) for structure in structures for name, value in structure
    )


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _pages(resolver: HistoricalResolver) -> Iterator[generic.DictionaryObject]:
    def walk(node: generic.DictionaryObject, depth: int) -> Iterator[generic.DictionaryObject]:
        if depth > 64:  # malformed (cyclic) page tree; stop rather than recurse forever
            return
        if node.get("/Type") == "/Pages":
            for kid in node.get("/Kids", []):
                yield from walk(kid.get_object(), depth + 1)
        else:
            yield node

    yield from walk(resolver.root["/Pages"], 0)


def page_count(reader: PdfFileReader) -> int:
    """The number of pages of the newest revision, walking the page tree."""
    return sum(1 for _ in _pages(reader.get_historical_resolver(reader.xrefs.total_revisions - 1)))


def _describe_page_changes(old: HistoricalResolver, new: HistoricalResolver) -> str | None:
    """Best-effort plain-language description of page-level edits, for the report.

    Only used to explain a failure that pyHanko's analysis already established; any
    problem reading the pages just means no extra description.
    """
    try:
        old_pages = list(_pages(old))
        new_pages = list(_pages(new))
        if len(old_pages) != len(new_pages):
            return f"the page count changed from {len(old_pages)} to {len(new_pages)}"
        for number, (before, after) in enumerate(zip(old_pages, new_pages, strict=True), start=1):
            if _annotations(before) != _annotations(after):
                return f"annotations were added, removed or changed on page {number}"
            if _content(before) != _content(after):
                return f"the content of page {number} was changed"
    except Exception:
        return None
    return None


def _content(page: generic.DictionaryObject) -> bytes:
    contents = page.get("/Contents")
    streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
    return b"".join(
        bytes(stream.get_object().encoded_data)
        for stream in streams
        if stream is not None and isinstance(stream.get_object(), generic.StreamObject)
    )


def _annotations(page: generic.DictionaryObject) -> list[str]:
    annots = page.get("/Annots")
    if not isinstance(annots, generic.ArrayObject):
        return []
    # repr() of a resolved annotation dictionary names its entries and the object
    # numbers it points to, which is enough to notice additions and edits. Invisible
    # signature widgets (a document timestamp's) are what LTV updates add: not described.
    return [
        repr(annot.get_object())
        for annot in annots
        if not _invisible_sig_widget(annot.get_object())
    ]


def _invisible_sig_widget(annot: generic.PdfObject) -> bool:
    if not isinstance(annot, generic.DictionaryObject) or annot.get("/FT") != "/Sig":
        return False
    rect = annot.get("/Rect")
    return isinstance(rect, generic.ArrayObject) and all(float(v) == 0 for v in rect)


def _pyhanko_verdict(
    seal: EmbeddedPdfSignature, base: HistoricalResolver, new: HistoricalResolver
) -> str | None:
    """Run pyHanko's standard difference policy on one revision; None if LTV-only."""
    try:
        result = STRICT_POLICY.apply(
            old=base, new=new, field_mdp_spec=seal.fieldmdp, doc_mdp=seal.docmdp_level
        )
    except SuspiciousModification as exc:
        return f"changes that are not long-term-validation data ({_shorten(str(exc))})"
    level = result.modification_level
    docmdp = seal.docmdp_level
    # pyHanko's own docmdp_ok rule (level must not exceed the seal's DocMDP level), made
    # stricter: whatever the DocMDP level, only LTV updates are acceptable.
    if level > ModificationLevel.LTA_UPDATES or (docmdp is not None and level.value > docmdp.value):
        fields = ", ".join(sorted(result.changed_form_fields)) or "none"
        return f"changes at level {level.name} (changed form fields: {fields})"
    return None


def analyse_modifications(
    reader: PdfFileReader,
    pdf: bytes,
    seal: EmbeddedPdfSignature,
    later_signatures: list[LaterSignature],
) -> Outcome:
    """Decide whether anything but LTV material was added after the seal."""
    if pdf.rstrip(b"\x00\t\n\x0c\r ")[-5:] != b"%%EOF":
        return Outcome.failed("data was appended after the last %%EOF marker of the document")

    coverage = seal.coverage or seal.evaluate_signature_coverage()
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return Outcome.ok("the file ends at the sealed revision; nothing was added after sealing")
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return Outcome.failed(
            "the seal's byte range does not cover a complete revision of the document "
            f"(coverage {coverage.name})"
        )

    base = reader.get_historical_resolver(seal.signed_revision)
    base_info = document_info(base)
    base_xmp = _xmp(base)
    total = reader.xrefs.total_revisions
    for sig in later_signatures:
        if sig.sig_type != "/DocTimeStamp":
            return Outcome.failed(
                f"revision {sig.revision} added a new signature in field {sig.field_name!r}; "
                "a sealed document accepts document timestamps only"
            )

    for revision in range(seal.signed_revision + 1, total):
        new = reader.get_historical_resolver(revision)
        verdict = _pyhanko_verdict(seal, base, new)
        # The reason a person can act on comes first: a changed page, then the trailer or
        # the metadata, then pyHanko's list of objects nothing explains.
        previous = reader.get_historical_resolver(revision - 1)
        detail = _describe_page_changes(previous, new) if verdict is not None else None
        if verdict is not None and detail is not None:
            return Outcome.failed(
                f"revision {revision} changed the document after sealing: {detail}; {verdict}"
            )
        trailer = _trailer_problem(reader, seal.signed_revision, revision)
        if trailer is not None:
            return Outcome.failed(
                f"revision {revision} changed the document after sealing: {trailer}"
            )
        changed = _changed_info_keys(base_info, document_info(new))
        if changed:
            return Outcome.failed(
                f"revision {revision} changed the document information after sealing "
                f"({', '.join(changed)})"
            )
        if _xmp(new) != base_xmp:
            return Outcome.failed(
                f"revision {revision} changed the XMP metadata stream after sealing"
            )
        if verdict is not None:
            return Outcome.failed(
                f"revision {revision} changed the document after sealing: {verdict}"
            )

    later = total - seal.signed_revision - 1
    return Outcome.ok(
        f"{later} later revision(s) add only long-term-validation data "
        "(DSS and/or document timestamps)"
    )


def _trailer_problem(reader: PdfFileReader, sealed: int, revision: int) -> str | None:
    """What a later revision's trailer changed, or None when it only did what updates do.

    Compared as written (references, not the objects they point to): a trailer that points
    ``/Info`` or ``/Root`` at another object, adds ``/Encrypt`` or any other key, or gives the
    file another permanent identifier is a change even if the objects look alike.
    """
    before = reader.trailer.flatten(sealed)
    after = reader.trailer.flatten(revision)
    for key in sorted(set(before) | set(after), key=str):
        if key in _TRAILER_UPDATE_KEYS:
            continue
        if key not in before or key not in after or before.raw_get(key) != after.raw_get(key):
            return f"the trailer entry {key} differs from the sealed revision's"
    ids_before, ids_after = before.get("/ID"), after.get("/ID")
    # The second /ID element changes on every update (ISO 32000-2, 14.4); the first names
    # the document and stays.
    first_before = ids_before[0] if isinstance(ids_before, generic.ArrayObject) else None
    first_after = ids_after[0] if isinstance(ids_after, generic.ArrayObject) else None
    if first_before != first_after:
        return "the trailer's permanent document identifier (/ID) differs from the sealed one"
    return None


def _changed_info_keys(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(key for key in keys if before.get(key) != after.get(key))
