"""HTTP plumbing shared by the routes: authentication, body and rate limits, TLS, the audit
writer process."""
