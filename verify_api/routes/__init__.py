"""The HTTP routes, one module per audience: public, agencies, sharing, the PKI's files."""
