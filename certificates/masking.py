"""Masking personal data for display on public pages (verify page, lists, logs).

Only natural persons' names are masked; an organisation's name on a business licence is
public registration data and may be shown in full, so callers decide by
`CertificateType.holder_is_person`. Masking is for display only: it is not a pseudonym
and must never be used as a lookup key.
"""

from __future__ import annotations

import unicodedata

__all__ = ["mask_identifier", "mask_name"]

MASK = "*"
# Separators kept visible so the shape of a multi-part name stays readable:
# space, middle dots used in transliterated names (阿卜杜拉·买买提), hyphen, apostrophe.
_SEPARATORS = frozenset(" ·•‧・-'’")
_MAX_REVEALED_TAIL = 4


def mask_name(name: str) -> str:
    """Mask a natural person's name, keeping its first and (for 3+ letters) last letter.

    "张三" -> "张*", "张小三" -> "张*三", "欧阳小明" -> "欧**明", "John Smith" -> "J*** ****h".
    One mask character per hidden letter, separators kept.
    """
    text = unicodedata.normalize("NFC", name).strip()
    positions = [i for i, c in enumerate(text) if c not in _SEPARATORS]
    if not positions:
        return ""
    if len(positions) == 1:
        keep = set()  # a one-letter name would be shown whole
    elif len(positions) == 2:
        keep = {positions[0]}
    else:
        keep = {positions[0], positions[-1]}
    return "".join(c if i in keep or c in _SEPARATORS else MASK for i, c in enumerate(text))


def mask_identifier(value: str, keep_last: int = 4) -> str:
    """Mask an identifier (ID number, credit code), revealing at most its last 4 characters.

    The tail is revealed only when at least as many characters stay hidden, so a short
    value is masked completely. `keep_last=0` hides everything.
    """
    if not 0 <= keep_last <= _MAX_REVEALED_TAIL:
        raise ValueError(f"keep_last must be between 0 and {_MAX_REVEALED_TAIL}")
    text = value.strip()
    if keep_last == 0 or len(text) < 2 * keep_last:
        return MASK * len(text)
    return MASK * (len(text) - keep_last) + text[-keep_last:]
