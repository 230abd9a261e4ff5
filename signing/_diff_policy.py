"""The difference policy for revisions after the seal: pyHanko's analysis, made strict.

pyHanko's default policy accepts changes a certified (DocMDP P=1) document must not: edits
of ``/Info`` and of the XMP metadata, other catalog keys (``/Metadata``, ``/MarkInfo``,
``/Version``), and objects nothing references. This policy drops those allowances. It adds
one of its own, for interoperability: the empty appearance that DSS (PDFBox) gives its
invisible document-timestamp field, which pyHanko counts as form filling although it cannot
paint anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DSSCompareRule,
    FieldComparisonContext,
    FormUpdate,
    FormUpdatingRule,
    GenericFieldModificationRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.rules.form_field_rules import is_field_visible

__all__ = ["STRICT_POLICY"]

_LTA = ModificationLevel.LTA_UPDATES
_APPEARANCE_KEYS = frozenset({"/N", "/R", "/D"})


class _InvisibleSignatureFieldRule(SigFieldCreationRule):
    """pyHanko's rule for new signature fields, with one re-qualification.

    pyHanko clears a new invisible signature field at LTA level but everything its /AP points
    to at FORM_FILLING, whatever it holds. An appearance that paints nothing (appearance
    dictionaries of references, and form XObjects with no content) of an invisible new
    signature field is cleared at LTA level too. Any content in it still counts as form
    filling, and so does any appearance of a visible field: the rest of the analysis then
    refuses the revision.
    """

    def apply(
        self, context: FieldComparisonContext
    ) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        invisible_new = {
            name
            for name, spec in context.field_specs.items()
            if spec.field_type == "/Sig"
            and spec.old_field_ref is None
            and spec.new_field_ref is not None
            and not is_field_visible(context.new(spec.new_field_ref))  # type: ignore[no-untyped-call]
        }
        for level, update in super().apply(context):
            if (
                level is ModificationLevel.FORM_FILLING
                and update.field_name in invisible_new
                and _paints_nothing(context.new, update.updated_ref)
            ):
                yield _LTA, update
            else:
                yield level, update


def _paints_nothing(resolver: HistoricalResolver, ref: generic.Reference) -> bool:
    obj = resolver(ref)
    if isinstance(obj, generic.StreamObject):
        if obj.get("/Subtype") != "/Form" or "/Resources" in obj:
            return False
        data: bytes = obj.read_data(DecodePurpose.GENERIC)
        return not data.strip()
    if isinstance(obj, generic.DictionaryObject):
        # An appearance dictionary: each entry a reference (checked as its own update) or a
        # dictionary of appearance states holding references.
        if not set(obj) <= _APPEARANCE_KEYS:
            return False
        for key in obj:
            value = obj.raw_get(key)
            if isinstance(value, generic.DictionaryObject):
                if not all(
                    isinstance(value.raw_get(state), generic.IndirectObject) for state in value
                ):
                    return False
            elif not isinstance(value, generic.IndirectObject):
                return False
        return True
    return False


STRICT_POLICY = StandardDiffPolicy(
    global_rules=[
        # Only the keys long-term-validation updates write may change in the catalog.
        CatalogModificationRule(  # type: ignore[no-untyped-call]
            ignored_keys=frozenset({"/AcroForm", "/DSS", "/Extensions"})
        ),
        XrefStreamRule().as_qualified(_LTA),
        ObjectStreamRule().as_qualified(_LTA),
        DSSCompareRule().as_qualified(_LTA),
        # No DocInfoRule and no MetadataUpdateRule: /Info and XMP may not change at all.
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            _InvisibleSignatureFieldRule(),  # type: ignore[no-untyped-call]
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ],
    ),
    reject_object_freeing=True,
    # An object nothing references is not waved through: the sealed revision may hold a
    # reference to an object number it had not defined yet, which the orphan then fills.
    ignore_orphaned_objects=False,
    ignore_identical_objects=True,
)
