"""Strict after-sealing change analysis over a PDF's incremental revisions.

pyHanko's difference analysis classifies what later revisions did (``LTA_UPDATES``,
``FORM_FILLING``, ``OTHER``); its default policy deliberately tolerates some changes
that a sealed certificate must not accept, notably edits of the ``/Info`` dictionary
and of the XMP metadata stream. This module layers stricter rules on top:

1. The file must end at the sealed revision, or every later revision must be
   classified ``LTA_UPDATES`` or lower by pyHanko's standard policy (DSS and
   document-timestamp material only).
2. No later revision may add a signature other than a document timestamp.
3. No later revision may change ``/Info`` beyond ``/ModDate`` and ``/Producer`` (every
   PDF writer, pyHanko's LTV updater included, touches those two).
4. No later revision may add, remove or change XMP metadata beyond ``xmp:ModifyDate``,
   ``xmp:MetadataDate`` and ``pdf:Producer`` (the XMP twins of the two above).
5. Nothing but whitespace may follow the last ``%%EOF``.

Rule 1 alone also rejects new or changed annotations, page content, form fields and
visible widgets (a certification signature forbids them), which closes the usual
"shadow" overlays; rules 2-5 close what pyHanko deliberately leaves open.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.metadata import model as xmp_model
from pyhanko.pdf_utils.metadata import xmp_xml
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    ModificationLevel,
    SuspiciousModification,
)
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from signing.models import Outcome

__all__ = ["LaterSignature", "analyse_modifications", "document_info", "page_count"]

# /Info keys that incremental writers legitimately refresh on every save.
_VOLATILE_INFO_KEYS = frozenset({"ModDate", "Producer"})
_VOLATILE_XMP = frozenset(
    {
        xmp_model.XMP_MODDATE,
        xmp_model.PDF_PRODUCER,
        xmp_model.ExpandedName(ns=xmp_model.NS["xmp"], local_name="MetadataDate"),
    }
)
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

    pyHanko refreshes ``xmp:ModifyDate`` and ``pdf:Producer`` whenever it writes an
    incremental update to a PDF 2.0 file (sealed files are PDF 2.0, because ECDSA P-256
    signatures register the ISO 32002 extension), so those properties are ignored, as
    for ``/Info``. Any other difference counts as a change.
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
    return sorted(
        (str(name), repr(value))
        for structure in structures
        for name, value in structure
        if name not in _VOLATILE_XMP
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
    # numbers it points to, which is enough to notice additions and edits.
    return [repr(annot.get_object()) for annot in annots]


def _pyhanko_verdict(
    seal: EmbeddedPdfSignature, base: HistoricalResolver, new: HistoricalResolver
) -> str | None:
    """Run pyHanko's standard difference policy on one revision; None if LTV-only."""
    try:
        result = DEFAULT_DIFF_POLICY.apply(
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
        if verdict is not None:
            detail = _describe_page_changes(base, new)
            what = f"{detail}; " if detail else ""
            return Outcome.failed(
                f"revision {revision} changed the document after sealing: {what}{verdict}"
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

    later = total - seal.signed_revision - 1
    return Outcome.ok(
        f"{later} later revision(s) add only long-term-validation data "
        "(DSS and/or document timestamps)"
    )


def _changed_info_keys(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    keys = (set(before) | set(after)) - _VOLATILE_INFO_KEYS
    return sorted(key for key in keys if before.get(key) != after.get(key))
