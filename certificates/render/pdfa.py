"""PDF/A-2b for rendered certificates: XMP identification, /Info that agrees with it, an
sRGB output intent, and streams laid out as ISO 19005-2 wants them.

Certificates are archived for decades, and archives (and ETSI EN 319 142) expect PDF/A-2b.
The open-source reportlab writes no XMP metadata and no output intent, and it ends every
stream's data directly with ``endstream``, without the end-of-line marker ISO 19005-2
6.1.7.1 requires before it. None of that can be fixed through reportlab's public API, so the
renderer's PDF goes through one pikepdf (qpdf) pass, :func:`make_pdfa_2b`, which adds the
metadata and the output intent and writes the file again: qpdf always puts an end-of-line
before ``endstream``. See docs/decisions/pdfa-2b.md.

The ICC profile is read, checked and compressed once per process (:class:`ColourProfile`);
each certificate only copies the compressed bytes into its output intent.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pikepdf
from pikepdf import Dictionary, Name
from reportlab import Version as _REPORTLAB_VERSION

from .errors import ColourProfileMissingError, RenderError

__all__ = [
    "DEFAULT_SRGB_PROFILE",
    "PRODUCER",
    "SRGB_PROFILE_ENV",
    "ColourProfile",
    "DocumentInfo",
    "make_pdfa_2b",
]

SRGB_PROFILE_ENV = "CERTLEDGER_SRGB_ICC"
"""Environment variable naming another sRGB ICC profile file (else the Debian one)."""
DEFAULT_SRGB_PROFILE = Path("/usr/share/color/icc/sRGB.icc")
_SRGB_PACKAGE = "icc-profiles-free"  # ships DEFAULT_SRGB_PROFILE (ICC v2, "use freely")

PRODUCER = f"CertLedger (ReportLab {_REPORTLAB_VERSION}, pikepdf {pikepdf.__version__})"

# The output intent's identification: the registered name of the sRGB characterisation.
_OUTPUT_CONDITION = "sRGB IEC61966-2.1"
_REGISTRY = "http://www.color.org"

# sRGB's primaries as an ICC profile records them (adapted to the D50 connection space),
# to refuse a file that is an RGB profile but not sRGB: the certificate's reds would then
# be declared as some other colour.
_SRGB_PRIMARIES = {
    b"rXYZ": (0.4361, 0.2225, 0.0139),
    b"gXYZ": (0.3851, 0.7169, 0.0971),
    b"bXYZ": (0.1431, 0.0606, 0.7141),
}
_PRIMARY_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True, eq=False)
class ColourProfile:
    """An sRGB ICC profile for the output intent, checked and compressed once."""

    path: Path
    data: bytes
    deflated: bytes = field(repr=False)

    @classmethod
    def discover(
        cls, path: Path | None = None, env: Mapping[str, str] | None = None
    ) -> ColourProfile:
        """The profile at ``path``, else at ``$CERTLEDGER_SRGB_ICC``, else Debian's.

        Loaded once per process per file; every :class:`~.Renderer` shares it.
        """
        if path is None:
            override = (os.environ if env is None else env).get(SRGB_PROFILE_ENV)
            path = Path(override) if override else DEFAULT_SRGB_PROFILE
        key = path.resolve()
        with _load_lock:
            profile = _loaded.get(key)
            if profile is None:
                profile = _loaded[key] = _load(path)
            return profile


_loaded: dict[Path, ColourProfile] = {}
_load_lock = threading.Lock()


def _load(path: Path) -> ColourProfile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = (
            f"install it with: apt-get install {_SRGB_PACKAGE}"
            if path == DEFAULT_SRGB_PROFILE
            else f"or unset {SRGB_PROFILE_ENV} to use {DEFAULT_SRGB_PROFILE}"
        )
        raise ColourProfileMissingError(
            f"the sRGB ICC profile for PDF/A output is missing ({path}: {exc.strerror}); {hint}"
        ) from None
    problem = _srgb_problem(data)
    if problem:
        raise ColourProfileMissingError(f"{path} is not a usable sRGB ICC profile: {problem}")
    return ColourProfile(path, data, zlib.compress(data, 9))


def _srgb_problem(data: bytes) -> str | None:
    """Why ``data`` cannot serve as a PDF/A-2 sRGB output intent, or None."""
    if len(data) < 132 or data[36:40] != b"acsp":
        return "not an ICC profile"
    if struct.unpack(">I", data[:4])[0] != len(data):
        return "its header's size does not match the file (truncated?)"
    if not 2 <= data[8] <= 4:
        return f"ICC version {data[8]} (PDF/A-2 takes versions 2 to 4)"
    # An output intent's profile must be an output (prtr) or display (mntr) profile.
    if data[12:16] not in (b"mntr", b"prtr") or data[16:20] != b"RGB ":
        return f"device class {data[12:16]!r}, colour space {data[16:20]!r}"
    tags = _tags(data)
    for sig, expected in _SRGB_PRIMARIES.items():
        offset = tags.get(sig)
        if offset is None or data[offset : offset + 4] != b"XYZ ":
            return f"no {sig.decode()} primary"
        xyz = [v / 65536 for v in struct.unpack(">3i", data[offset + 8 : offset + 20])]
        if any(abs(a - b) > _PRIMARY_TOLERANCE for a, b in zip(xyz, expected, strict=True)):
            return f"its {sig.decode()} primary is not sRGB's"
    return None


def _tags(data: bytes) -> dict[bytes, int]:
    (count,) = struct.unpack(">I", data[128:132])
    tags = {}
    for i in range(min(count, (len(data) - 132) // 12)):
        sig, offset, size = struct.unpack(">4sII", data[132 + 12 * i : 144 + 12 * i])
        if offset + size <= len(data) and size >= 20:
            tags[sig] = offset
    return tags


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """The document's metadata, written both as /Info and as XMP so that they agree.

    ``custom``: extra /Info keys with no XMP counterpart (ISO 19005-2 constrains only the
    keys that have one), for tools that index sealed PDFs.
    """

    title: str
    author: str
    subject: str
    creator: str
    created: datetime  # timezone-aware; also the modification and metadata date
    custom: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.created.utcoffset() is None:
            raise RenderError("document dates must carry a time zone")
        for text in (self.title, self.author, self.subject, self.creator, *self.custom.values()):
            if _XML_ILLEGAL.search(text):
                raise RenderError(f"metadata text has characters XML cannot carry: {text!r}")


# Characters XML 1.0 cannot carry at all (the XMP packet is XML).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def make_pdfa_2b(pdf: bytes, info: DocumentInfo, profile: ColourProfile) -> bytes:
    """The renderer's ``pdf`` as PDF/A-2b: XMP (``pdfaid`` part 2, conformance B), /Info
    equal to it, an sRGB output intent, every stream's data followed by an end-of-line.

    One qpdf pass because reportlab can write none of this itself (module docstring).
    """
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        icc = pikepdf.Stream(doc, b"")
        # Already deflated once per process: qpdf leaves Flate data as it is.
        icc.write(profile.deflated, filter=Name.FlateDecode)
        icc.N = 3
        doc.Root.OutputIntents = pikepdf.Array(
            [
                Dictionary(
                    Type=Name.OutputIntent,
                    S=Name.GTS_PDFA1,
                    OutputConditionIdentifier=pikepdf.String(_OUTPUT_CONDITION),
                    Info=pikepdf.String(_OUTPUT_CONDITION),
                    RegistryName=pikepdf.String(_REGISTRY),
                    DestOutputProfile=doc.make_indirect(icc),
                )
            ]
        )
        metadata = pikepdf.Stream(doc, _xmp_packet(info))
        metadata.Type = Name.Metadata
        metadata.Subtype = Name.XML
        doc.Root.Metadata = doc.make_indirect(metadata)
        # The whole /Info anew: reportlab's (its producer, its dates) is left unreferenced,
        # and qpdf writes only what is referenced.
        doc.trailer.Info = doc.make_indirect(_info_dictionary(info))
        out = io.BytesIO()
        # Every stream's data is copied as it is (no decoding, no recompression: that
        # would triple the cost of this pass); qpdf only frames it anew, with the
        # end-of-line before `endstream`. fix_metadata_version would parse and rewrite the
        # XMP just written, for nothing.
        doc.save(
            out,
            # reportlab declares 1.3; output intents and XMP streams are PDF 1.4 features.
            min_version="1.4",
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
            fix_metadata_version=False,
        )
    return out.getvalue()


def _pdf_date(when: datetime) -> str:
    offset = when.utcoffset()
    assert offset is not None  # checked in DocumentInfo
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"D:{when:%Y%m%d%H%M%S}{sign}{hours:02d}'{mins:02d}'"


def _xmp_date(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat()


def _info_dictionary(info: DocumentInfo) -> Dictionary:
    # Each key here has its XMP counterpart in _xmp_packet (ISO 19005-2 6.6.2.3.1).
    date = pikepdf.String(_pdf_date(info.created))
    entries: dict[str, pikepdf.Object] = {
        "/Title": pikepdf.String(info.title),
        "/Author": pikepdf.String(info.author),
        "/Subject": pikepdf.String(info.subject),
        "/Creator": pikepdf.String(info.creator),
        "/Producer": pikepdf.String(PRODUCER),
        "/CreationDate": date,
        "/ModDate": date,
    }
    entries.update({f"/{key}": pikepdf.String(value) for key, value in info.custom.items()})
    return Dictionary(entries)


def _xmp_packet(info: DocumentInfo) -> bytes:
    date = _xmp_date(info.created)

    def alt(text: str) -> str:
        return f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt>'

    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   <dc:title>{alt(info.title)}</dc:title>
   <dc:creator><rdf:Seq><rdf:li>{escape(info.author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description>{alt(info.subject)}</dc:description>
   <xmp:CreatorTool>{escape(info.creator)}</xmp:CreatorTool>
   <xmp:CreateDate>{date}</xmp:CreateDate>
   <xmp:ModifyDate>{date}</xmp:ModifyDate>
   <xmp:MetadataDate>{date}</xmp:MetadataDate>
   <pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""
    return packet.encode("utf-8")
