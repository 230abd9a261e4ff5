"""Structural checks of PDF/A-2b, for the rendering and sealing tests.

Not a validator (veraPDF is one): these are the parts of ISO 19005-2 the project's own code
is responsible for, each checked from the file itself, so that a test fails with the reason.
The stream layout is read from the raw bytes, not through a PDF library, since libraries
repair exactly what is checked there.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pikepdf

__all__ = [
    "info_xmp_mismatches",
    "output_intent_profile",
    "stream_layout_problems",
    "transparency_uses",
    "unembedded_fonts",
    "xmp_properties",
]

_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
}
_PREFIX = {uri: prefix for prefix, uri in _NS.items()}
_RDF = f"{{{_NS['rdf']}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _qname(tag: str) -> str | None:
    uri, _, local = tag[1:].partition("}")
    prefix = _PREFIX.get(uri)
    return f"{prefix}:{local}" if prefix else None


def xmp_properties(pdf: bytes) -> dict[str, str]:
    """The XMP packet's simple properties (``prefix:name`` → text), whether written as
    elements or as attributes; for language alternatives the x-default entry, for
    sequences the first entry."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert "/Metadata" in doc.Root, "the catalog has no /Metadata"
        metadata = doc.Root.Metadata
        assert metadata.get("/Type") == "/Metadata" and metadata.get("/Subtype") == "/XML"
        packet = metadata.read_bytes()
    root = ET.fromstring(packet.decode("utf-8"))
    found: dict[str, str] = {}
    for description in root.iter(f"{_RDF}Description"):
        for key, value in description.attrib.items():
            name = _qname(key)
            if name and not name.startswith("rdf:"):
                found[name] = value
        for child in description:
            name = _qname(child.tag)
            if name is None:
                continue
            items = child.findall(f"./{_RDF}Alt/{_RDF}li") + child.findall(f"./*/{_RDF}li")
            if items:
                default = [li for li in items if li.get(_XML_LANG) == "x-default"]
                found[name] = (default or items)[0].text or ""
            else:
                found[name] = child.text or ""
    return found


def _pdf_date(text: str) -> datetime:
    match = re.fullmatch(r"D:(\d{14})(?:(Z)(?:00'00'?)?|([+-])(\d\d)'(\d\d)'?)", text)
    assert match, f"not a PDF date with a time zone: {text!r}"
    when = datetime.strptime(match[1], "%Y%m%d%H%M%S")
    if match[2]:
        return when.replace(tzinfo=UTC)
    offset = timedelta(hours=int(match[4]), minutes=int(match[5]))
    return when.replace(tzinfo=timezone(offset if match[3] == "+" else -offset))


# /Info keys and their XMP counterparts (ISO 19005-2 6.6.2.3.1, ISO 16684-1 / XMP 2005).
_INFO_TO_XMP = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/Producer": "pdf:Producer",
    "/CreationDate": "xmp:CreateDate",
    "/ModDate": "xmp:ModifyDate",
}


def info_xmp_mismatches(pdf: bytes) -> list[str]:
    """Each /Info entry that has an XMP counterpart and disagrees with it (dates compared
    as instants)."""
    xmp = xmp_properties(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        info = {str(k): str(v) for k, v in doc.docinfo.items()}
    problems = []
    for key, prop in _INFO_TO_XMP.items():
        if key not in info:
            continue
        if prop not in xmp:
            problems.append(f"{key} = {info[key]!r} but XMP has no {prop}")
            continue
        if key.endswith("Date"):
            same = _pdf_date(info[key]) == datetime.fromisoformat(xmp[prop])
        else:
            same = info[key] == xmp[prop]
        if not same:
            problems.append(f"{key} = {info[key]!r} but XMP {prop} = {xmp[prop]!r}")
    return problems


def output_intent_profile(pdf: bytes) -> tuple[dict[str, str], bytes]:
    """The document's one PDF/A output intent (its text entries) and its ICC profile."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        intents = doc.Root.get("/OutputIntents")
        assert intents is not None, "the catalog has no /OutputIntents"
        pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
        assert len(pdfa) == 1, f"{len(pdfa)} GTS_PDFA1 output intents"
        intent = pdfa[0]
        profile = intent.DestOutputProfile
        assert isinstance(profile, pikepdf.Stream)
        assert int(profile.N) == 3, "an RGB profile has N 3"
        entries = {str(k): str(v) for k, v in intent.items() if isinstance(v, pikepdf.String)}
        return entries, profile.read_bytes()


_OBJECT = re.compile(rb"(?:^|(?<=[\r\n]))(\d+) (\d+) obj\b")
_STREAM = re.compile(rb">>[\x00\t\n\x0c\r ]*(stream)(\r\n|\n|\r)?")
_LENGTH = re.compile(
    rb"/Length[\x00\t\n\x0c\r ]+(\d+)(?:[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+R)?"
)
_ENDSTREAM = re.compile(rb"(\r\n|\n|\r)endstream")


def stream_layout_problems(pdf: bytes) -> list[str]:
    """Streams in any revision laid out against ISO 19005-2 6.1.7.1: ``stream`` not
    followed by CRLF or LF, or the /Length bytes not followed by an end-of-line and
    ``endstream``."""
    problems = []
    objects = list(_OBJECT.finditer(pdf))
    direct = {(int(m[1]), int(m[2])): m.end() for m in objects}
    for i, match in enumerate(objects):
        name = f"object {int(match[1])} {int(match[2])} at byte {match.start()}"
        limit = objects[i + 1].start() if i + 1 < len(objects) else len(pdf)
        body_end = pdf.find(b"endobj", match.end(), limit)
        stream = _STREAM.search(pdf, match.end(), limit)
        if stream is None or (0 <= body_end < stream.start()):
            continue
        if stream[2] not in (b"\n", b"\r\n"):
            problems.append(f"{name}: 'stream' is not followed by CRLF or LF")
            continue
        length = _LENGTH.search(pdf, match.end(), stream.start())
        if length is None:
            problems.append(f"{name}: no /Length")
            continue
        if length[2] is None:
            size = int(length[1])
        else:  # an indirect /Length: the integer object it points to
            at = direct.get((int(length[1]), int(length[2])))
            value = re.match(rb"\s*(\d+)\s*endobj", pdf[at : at + 40]) if at else None
            if value is None:
                problems.append(f"{name}: unresolvable indirect /Length")
                continue
            size = int(value[1])
        data_end = stream.end() + size
        if not _ENDSTREAM.match(pdf, data_end):
            tail = pdf[data_end : data_end + 12]
            problems.append(
                f"{name}: {size} bytes of data are not followed by EOL endstream {tail!r}"
            )
    return problems


def unembedded_fonts(pdf: bytes) -> list[str]:
    """Fonts (other than Type 3) of the latest revision without an embedded font program."""
    missing = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for obj in doc.objects:
            if not isinstance(obj, pikepdf.Dictionary) or obj.get("/Type") != "/Font":
                continue
            subtype = obj.get("/Subtype")
            if subtype in ("/Type3", "/Type0"):  # Type 0: its descendant is checked itself
                continue
            descriptor = obj.get("/FontDescriptor")
            if descriptor is None or not any(
                k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
            ):
                missing.append(str(obj.get("/BaseFont")))
    return missing


def transparency_uses(pdf: bytes) -> list[str]:
    """Graphics states or images of the latest revision that make anything transparent."""
    found = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for obj in doc.objects:
            if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                continue
            smask = obj.get("/SMask")
            if smask is not None and smask != pikepdf.Name("/None"):
                found.append(f"soft mask in {obj.objgen}")
            for key in ("/CA", "/ca"):
                if key in obj and float(obj[key]) < 1:
                    found.append(f"{key} {float(obj[key])} in {obj.objgen}")
            if obj.get("/BM") not in (None, "/Normal", "/Compatible"):
                found.append(f"blend mode {obj.get('/BM')} in {obj.objgen}")
    return found
