"""Fixtures around the real services, shared by several test modules (tests/conftest.py
lists this module in ``pytest_plugins``): clamd for the scan pipeline, Redis for rate
limits, a private cache for the API's throttles.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.test.utils import override_settings
from rest_framework.throttling import SimpleRateThrottle

from tests.files_helpers import Backend


@pytest.fixture
def clamd(service_url: Callable[[str], str], folder_backend: Backend) -> Iterator[str]:
    """The real clamd as the scanner of uploads (files on the folder backend)."""
    address = service_url("clamd")
    with override_settings(CLAMD_ADDRESS=address):
        yield address


@pytest.fixture
def rate_limit_cache(service_url: Callable[[str], str]) -> Iterator[None]:
    """Rate-limit counters live in the shared cache, Redis as in production; each story
    gets a key prefix of its own, so parallel test workers never share counters.
    Modules that need it say so: ``pytest.mark.usefixtures("rate_limit_cache")``."""
    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": service_url("redis"),
            "KEY_PREFIX": f"sd-links-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=cache_settings):
        yield


@pytest.fixture
def isolated_throttles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rate counters in a private cache: tests (and xdist workers) must not add up."""
    cache = LocMemCache("api-throttles", {})
    monkeypatch.setattr(SimpleRateThrottle, "cache", cache)
    yield
    cache.clear()
