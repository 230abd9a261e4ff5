"""The HTTP routes beyond the core API in verify_api.app: sharing, the QR pages, the PKI's
files, and the fast paths that answer the hottest requests without routing."""

__all__ = ["fast_paths", "pages", "pki", "sharing"]
