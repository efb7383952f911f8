"""Shared fixtures: people, real services, and a headless Chromium.

Real services, not mocks: each test that needs one asks for it through
``service_url``. Locally a missing service skips the test; under ``CI=true`` it fails,
so a green CI run always means the services were really exercised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.backends.postgresql.operations import DatabaseOperations
from django.utils import translation

from accounts.models import User

# Fixture modules: their fixtures are available to every test module, which asks for
# them by parameter name only (no imports).
pytest_plugins = [
    "tests.files_helpers",
    "tests.fixtures_services",
    "tests.smtp_server",
    "tests.oidc_helpers",
]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls made
# by the test itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SERVICES = {
    "postgres": "SECUREDRIVE_TEST_DATABASE_URL",
    "redis": "SECUREDRIVE_TEST_REDIS_URL",
    "clamd": "SECUREDRIVE_TEST_CLAMD_ADDRESS",
    "s3": "SECUREDRIVE_TEST_S3_ENDPOINT_URL",
    "chromium": "SECUREDRIVE_TEST_CHROMIUM",
    # The folder of the test OpenID provider, its packages installed (tests/services.sh).
    "oidc_provider": "SECUREDRIVE_TEST_OIDC_PROVIDER",
}


def missing_service(message: str) -> None:
    """Skip locally, fail in CI: a missing service must never turn CI green."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required services must be running)", pytrace=False)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    sqlite_pass = os.environ.get("SECUREDRIVE_TEST_SQLITE_PASS") == "1"
    if IN_CI and not os.environ.get(SERVICES["postgres"]) and not sqlite_pass:
        raise pytest.UsageError(
            "CI=true but SECUREDRIVE_TEST_DATABASE_URL is not set: the suite must run on "
            "PostgreSQL in CI (tests/services.sh starts one)."
        )


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the site's language: a request in French (LocaleMiddleware
    activates it for the thread and leaves it there) must not turn the next test's
    messages French."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def own_rate_limit_counters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test counts its own rate-limit hits: 127.0.0.1 is every test's address."""
    from django.test.utils import override_settings

    path = tmp_path_factory.mktemp("ratelimit") / "ratelimit.sqlite3"
    with override_settings(RATELIMIT_DATABASE=path):
        yield


@pytest.fixture(scope="session")
def service_url() -> Callable[[str], str]:
    def lookup(name: str) -> str:
        value = os.environ.get(SERVICES[name], "")
        if not value:
            missing_service(f"{name} is not available ({SERVICES[name]} unset)")
        return value

    return lookup


@pytest.fixture
def on_postgres(db: None, service_url: Callable[[str], str]) -> None:
    """For behaviour that only PostgreSQL has (triggers, advisory locks)."""
    from django.db import connection

    service_url("postgres")
    if connection.vendor != "postgresql":
        missing_service("this test needs the suite to run on PostgreSQL")


# The audit table refuses TRUNCATE (a trigger), which is what Django's test flush uses
# between transactional tests. The flush runs as a replica session, where ordinary
# triggers do not fire; this needs a superuser, which the throwaway test cluster has.
_original_sql_flush = DatabaseOperations.sql_flush


def _sql_flush_bypassing_audit_trigger(
    self: DatabaseOperations, *args: Any, **kwargs: Any
) -> list[str]:
    statements = _original_sql_flush(self, *args, **kwargs)
    if not statements:
        return statements
    return ["SET LOCAL session_replication_role = replica", *statements]


DatabaseOperations.sql_flush = _sql_flush_bypassing_audit_trigger  # type: ignore[method-assign,assignment]


# --- People --------------------------------------------------------------------------

PASSWORD = "correct horse battery staple 42"


def user_create(email: str, **extra: Any) -> User:
    return User.objects.create_user(email, PASSWORD, **extra)


@pytest.fixture
def owner(db: None) -> User:
    return user_create("alice.martin@hopital.example", full_name="Alice Martin")


@pytest.fixture
def outsider(db: None) -> User:
    return user_create("oscar.outsider@example.org", full_name="Oscar Outsider")


@pytest.fixture
def site_admin(db: None) -> User:
    return user_create("sam.admin@hopital.example", full_name="Sam Admin", is_site_admin=True)


# --- Browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium(service_url: Callable[[str], str]) -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = service_url("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


class BrowserPage:
    """A page plus the console errors it produced (CSP violations show up there)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console_errors: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser_page(chromium: Any, live_server: Any) -> Iterator[BrowserPage]:
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield BrowserPage(page)
    context.close()
