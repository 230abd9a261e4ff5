"""Encode a freshly built asn1crypto structure in linear time.

asn1crypto marks every value it builds from Python data as *mutated* and never clears the
mark. Reading ``contents`` of a mutated ``Sequence``/``SequenceOf`` re-encodes all its
children, and ``dump()`` reads ``contents`` twice per level (once for the value, once for the
length in the header), so encoding a deep, freshly assembled CMS costs O(2^depth) in the worst
case. The signer's CMS (SignerInfo → unsigned attributes → the time-stamp token → its own
SignedData → …) is deep enough that, depending on which nodes were touched while it was
assembled, one seal in 10 to 30 spent 6 to 20 seconds inside pyHanko's ``fill_with_cms`` in
``ContentInfo.dump()``, with identical output bytes.

:func:`settle` encodes bottom-up instead: every constructed node is encoded once, after its
children, and its mark is cleared, so the following ``dump()`` reuses the cached encodings.
Nothing about the bytes changes: the same asn1crypto encoders run, once each.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import core

__all__ = ["settle"]


def settle(value: core.Asn1Value) -> None:
    """Encode every mutated node under ``value`` exactly once and clear its mutated mark.

    Lazily parsed children (still raw bytes) are left alone: they were never mutated.
    """
    _settle(value)


def _settle(value: Any) -> bool:
    """Settle ``value``; return whether its encoding changed (so its parent must re-encode)."""
    if isinstance(value, core.Any):
        parsed = value._parsed
        return _settle(parsed[0]) if parsed is not None else False
    if isinstance(value, core.Choice):
        chosen = value._parsed
        return _settle(chosen) if chosen is not None else False
    if not isinstance(value, core.Sequence | core.SequenceOf) or value.children is None:
        return False
    dirty = bool(value._mutated)
    for child in value.children:
        # Unparsed children are kept as tuples of their original bytes; None is an absent
        # optional field.
        if child is not None and not isinstance(child, tuple):
            dirty = _settle(child) or dirty
    if dirty:
        value._set_contents()
    value._mutated = False
    return dirty
