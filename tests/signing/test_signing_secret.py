from __future__ import annotations

import logging
import pickle

import pytest

from signing import MissingPassphraseError, Secret, SigningError
from signing.secret import from_env

VALUE = "hunter2-but-longer"


def test_secret_masks_repr_str_and_format() -> None:
    secret = Secret(VALUE)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "{}".format(secret)):  # noqa: UP032
        assert VALUE not in shown
    assert secret.reveal() == VALUE


def test_secret_does_not_leak_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("passphrase is %s / %r", Secret(VALUE), Secret(VALUE))
    assert VALUE not in caplog.text


def test_secret_in_containers_stays_masked() -> None:
    assert VALUE not in repr({"passphrase": Secret(VALUE)})


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(VALUE))


def test_secret_equality_is_by_value() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")


def test_from_env_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTLEDGER_TEST_SECRET", VALUE)
    assert Secret.from_env("CERTLEDGER_TEST_SECRET").reveal() == VALUE
    assert from_env("CERTLEDGER_TEST_SECRET").reveal() == VALUE


@pytest.mark.parametrize("value", [None, ""])
def test_from_env_rejects_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CERTLEDGER_TEST_SECRET", raising=False)
    else:
        monkeypatch.setenv("CERTLEDGER_TEST_SECRET", value)
    with pytest.raises(MissingPassphraseError, match="CERTLEDGER_TEST_SECRET") as info:
        Secret.from_env("CERTLEDGER_TEST_SECRET")
    assert isinstance(info.value, SigningError)
