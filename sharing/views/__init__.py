"""Browser pages of sharing, one module per concept: ``shares``, ``links``,
``transfers``, ``file_requests`` (signed in), ``link_public`` (/s/<token>/) and
``file_request_public`` (/r/<token>/, no account needed)."""
