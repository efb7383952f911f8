"""SCIM 2.0 service provider (RFC 7643 schemas, RFC 7644 protocol) under /scim/v2/."""
