"""Issuing certificates: validate, render, seal, store as pending, anchor on the ledger."""

from certificates.issuance.batches import BatchProgress, BatchRowResult, BatchService
from certificates.issuance.production import LocalProducer, PoolProducer, Producer
from certificates.issuance.service import (
    BatchRowError,
    BatchValidationError,
    IssuanceService,
    Issued,
)

__all__ = [
    "BatchProgress",
    "BatchRowError",
    "BatchRowResult",
    "BatchService",
    "BatchValidationError",
    "IssuanceService",
    "Issued",
    "LocalProducer",
    "PoolProducer",
    "Producer",
]
