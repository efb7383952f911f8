"""Sharing: internal shares, external links, transfers and file requests (issue #6)."""
