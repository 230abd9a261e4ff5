"""Issuing certificates: validate, render, seal, store as pending, anchor on the ledger."""

from certificates.issuance.production import LocalProducer, PoolProducer, Producer
from certificates.issuance.service import (
    BatchRowError,
    BatchValidationError,
    IssuanceService,
    Issued,
)

__all__ = [
    "BatchRowError",
    "BatchValidationError",
    "IssuanceService",
    "Issued",
    "LocalProducer",
    "PoolProducer",
    "Producer",
]
