"""HTTP plumbing shared by the routes: authentication, body and rate limits, TLS, the audit
writer process."""

__all__ = ["audit_writer", "auth", "limits", "ratelimit", "shared_limits", "tls"]
