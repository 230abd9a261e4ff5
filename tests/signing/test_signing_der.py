"""signing._der.settle: linear-time encoding of freshly built asn1crypto structures.

Regression for the slow seal: asn1crypto re-encodes a mutated subtree every time a parent
reads its contents, twice per level, so a deep CMS built from Python data could take seconds
to dump. These tests count encoder calls instead of timing anything.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from asn1crypto import cms, core

from signing import InProcessTimeStamper, Pki, TimeStampAuthority
from signing._der import settle
from signing._signer import LoadedKeySigner


class _Chain(core.SequenceOf):  # type: ignore[misc]
    pass


class _Link(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [("n", core.Integer), ("next", _Chain, {"optional": True})]


_Chain._child_spec = _Link


def _build(depth: int, *, settled: bool = False) -> _Link:
    """A chain of ``depth`` links built from Python data, all marked mutated.

    asn1crypto's constructors read the contents of the values they are given, so building
    an unsettled chain is itself exponential; ``settled`` settles each link as it is made.
    """
    value: dict[str, Any] = {"n": depth}
    if depth:
        value["next"] = [_build(depth - 1, settled=settled)]
    link = _Link(value)
    if settled:
        settle(link)
    return link


@pytest.fixture
def encoder_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts every re-encoding of a constructed value's contents."""
    calls = [0]
    for cls in (core.Sequence, core.SequenceOf):
        original = cls._set_contents

        def counting(self: Any, force: bool = False, _original: Any = original) -> None:
            calls[0] += 1
            _original(self, force)

        monkeypatch.setattr(cls, "_set_contents", counting)
    yield calls


def test_settled_bytes_equal_asn1cryptos_own_encoding() -> None:
    # Small enough for asn1crypto's exponential path to finish quickly.
    expected = _build(6).dump()
    settled = _build(6)
    settle(settled)
    assert settled.dump() == expected


def test_a_settled_chain_is_never_re_encoded(encoder_calls: list[int]) -> None:
    depth = 40  # about 2**40 encodings without settle
    value = _build(depth - 1, settled=True)
    top = _Link({"n": depth, "next": [value]})
    top["n"] = depth + 1  # a mutated top over a settled chain, as pyHanko leaves its CMS
    before = encoder_calls[0]
    settle(top)
    # Only the top link needs encoding: the chain under it is settled already.
    assert encoder_calls[0] - before <= 2
    settled = encoder_calls[0]
    der = top.dump()
    assert encoder_calls[0] == settled, "dump() after settle re-encoded something"
    reparsed = _Link.load(der)
    assert reparsed.dump(force=True) == der
    assert reparsed["n"].native == depth + 1
    assert reparsed.native == top.native


def test_a_settled_value_still_sees_later_changes() -> None:
    value = _build(3)
    settle(value)
    value["n"] = 99
    assert _Link.load(value.dump())["n"].native == 99


def test_signer_cms_is_settled_and_canonical(pki: Pki, encoder_calls: list[int]) -> None:
    signer = LoadedKeySigner(pki.seal("BJ-EDU"))
    timestamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
    signed = asyncio.run(
        signer.async_sign(
            hashlib.sha256(b"document").digest(), "sha256", use_pades=True, timestamper=timestamper
        )
    )
    before = encoder_calls[0]
    der = signed.dump()
    assert encoder_calls[0] == before, "pyHanko's dump() would re-encode the signer's CMS"
    assert cms.ContentInfo.load(der).dump(force=True) == der
    unsigned = signed["content"]["signer_infos"][0]["unsigned_attrs"]
    assert unsigned[0]["type"].native == "signature_time_stamp_token"
