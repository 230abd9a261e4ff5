"""Why a backup or a restore could not be done, said to the operator in Chinese and English."""

from __future__ import annotations

from typing import Literal

from certificates.errors import CertificateError

__all__ = ["BackupError", "Kind"]

# What the edge makes of it: ``unreadable`` the backup cannot be read (missing, not a backup);
# ``tampered`` it is there but not what was written (a digest differs, a file is missing or
# added); ``refused`` the deployment or the target is not fit (not empty, another engine, a
# ledger backend this version does not back up); ``failed`` a tool or the database failed.
Kind = Literal["unreadable", "tampered", "refused", "failed"]


class BackupError(CertificateError):
    """:attr:`zh` and :attr:`en` say what happened and what to do; :attr:`kind` what sort of
    failure it is. Nothing in the texts is secret: a database is named by its label only."""

    def __init__(self, kind: Kind, zh: str, en: str) -> None:
        super().__init__(en)
        self.kind: Kind = kind
        self.zh = zh
        self.en = en
