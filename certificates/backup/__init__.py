"""Backup and restore of a deployment: `certledger backup`, `certledger restore`
(see :mod:`certificates.backup.service` for what is copied, in which order, and why)."""

from __future__ import annotations

from certificates.backup.errors import BackupError
from certificates.backup.service import BackupResult, RestoreResult, create_backup, restore_backup

__all__ = ["BackupError", "BackupResult", "RestoreResult", "create_backup", "restore_backup"]
