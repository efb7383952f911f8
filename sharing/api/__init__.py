"""Sharing REST API under /api/v1/sharing/ (docs/api.md), one module per concept:
``shares``, ``links``, ``transfers``, ``file_requests``; ``scopes`` holds the token
scope every endpoint asks for."""
