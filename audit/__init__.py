"""Tamper-evident audit log: one entry point (``audit.services.record``) for every app.

``audit`` imports no other SecureDrive app; every other app imports it.
"""
