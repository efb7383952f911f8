"""Shared fixtures: people, real services, and a headless Chromium.

Real services, not mocks: each test that needs one asks for it through
``service_url``. Locally a missing service skips the test; under ``CI=true`` it fails,
so a green CI run always means the services were really exercised.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import client as django_test_client
from django.utils import translation

from accounts.models import User

# Fixture modules: their fixtures are available to every test module, which asks for
# them by parameter name only (no imports).
pytest_plugins = [
    "tests.files_helpers",
    "tests.fixtures_services",
    "tests.smtp_server",
    "tests.oidc_helpers",
    "tests.withdrawal_helpers",
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
    config.pluginmanager.register(_SharedFixtureThreads(), "securedrive-shared-fixture-threads")
    sqlite_pass = os.environ.get("SECUREDRIVE_TEST_SQLITE_PASS") == "1"
    if IN_CI and not os.environ.get(SERVICES["postgres"]) and not sqlite_pass:
        raise pytest.UsageError(
            "CI=true but SECUREDRIVE_TEST_DATABASE_URL is not set: the suite must run on "
            "PostgreSQL in CI (tests/services.sh starts one)."
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the data folder tests/settings.py made for this process: an xdist worker
    ends with os._exit, so the atexit hook registered there never runs in it."""
    import shutil

    from tests import settings as test_settings

    if test_settings.temporary_data_dir:
        shutil.rmtree(test_settings.temporary_data_dir, ignore_errors=True)


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


# --- Nothing a test started outlives it -------------------------------------------------
# What a test leaves running writes into the next test's database: a CI run found three
# stray events in tests/test_audit_console.py's checkpoint story (6 == 3), the end of a
# link's ZIP that tests/test_audit_auditor_review.py had read half-way. Django's test client
# closes a streaming body from a generator wrapped around it
# (django.test.client.closing_iterator_wrapper); a body read partly and dropped is closed
# when the garbage collector reaches that generator, and the response sits in reference
# cycles (response.json, response.client), so that happens in some later test. Closing a
# download records its end (files.version.sent, sharing.link.download): into that later
# test's transaction, or committed for good when the collection falls between two tests.
# Threads are the same story: one still running after its test's flush commits into the
# next test. Each test therefore ends what it started, and fails when it did not.

_client_streams: list[Iterator[Any]] = []
_closing_iterator_wrapper = django_test_client.closing_iterator_wrapper


def _closing_iterator_kept(iterable: Any, close: Callable[[], None]) -> Any:
    stream = _closing_iterator_wrapper(iterable, close)
    _client_streams.append(stream)
    return stream


django_test_client.closing_iterator_wrapper = _closing_iterator_kept


def _client_streams_close() -> int:
    """Closes, now, the test client's streaming bodies read partly and never closed (as
    the server does when the client goes away); returns how many there were. A body
    never read is left alone: closing its generator runs nothing, now or later."""
    streams = list(_client_streams)
    _client_streams.clear()
    left_open = [
        stream
        for stream in streams
        if isinstance(stream, Generator)
        and inspect.getgeneratorstate(stream) == inspect.GEN_SUSPENDED
    ]
    for stream in left_open:
        stream.close()
    return len(left_open)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    try:
        result = yield
    except BaseException:
        with contextlib.suppress(Exception):  # the test's own failure is the one to report
            _client_streams_close()
        raise
    left_open = _client_streams_close()
    if left_open:
        pytest.fail(
            f"{left_open} streaming response(s) read partly and left open: close each in "
            "the test (tests.files_helpers.stream_close) or read it to the end; the garbage "
            "collector would close it in a later test, writing its end there",
            pytrace=False,
        )
    return result


THREADS_GRACE_S = 2.0
"""How long a thread a test started may take to finish after the test's teardown (a
live-server request thread ends once the browser's connection closes)."""

LIBRARY_POOL_THREADS = ("asyncio_",)
"""Name prefixes of threads a library starts on first use and keeps for the session,
idle between tests: the default executor of Playwright's event loop."""

_threads_of_shared_fixtures: set[threading.Thread] = set()
_threads_before_test: set[threading.Thread] = set()


class _SharedFixtureThreads:
    """Threads started by a module- or session-scoped fixture (the live server, the
    browser's driver) belong to it, not to the test that first asked for it. A plugin
    of its own (registered in pytest_configure): a session fixture's setup hook is
    called on the session, which this folder's conftest does not reach."""

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any]
    ) -> Generator[None, object, object]:
        if fixturedef.scope == "function":
            return (yield)
        before = set(threading.enumerate())
        try:
            return (yield)
        finally:
            _threads_of_shared_fixtures.update(set(threading.enumerate()) - before)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _client_streams.clear()
    _threads_before_test.clear()
    _threads_before_test.update(threading.enumerate())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    started = {
        thread
        for thread in set(threading.enumerate()) - _threads_before_test
        if thread not in _threads_of_shared_fixtures
        and not thread.name.startswith(LIBRARY_POOL_THREADS)
        # The shared live server's per-connection threads: the browser keeps its
        # connections open across tests (seen in CI on the Chromium tests).
        and "process_request_thread" not in thread.name
    }
    deadline = time.monotonic() + THREADS_GRACE_S
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = sorted(thread.name for thread in started if thread.is_alive())
    if alive:
        pytest.fail(
            f"threads started by this test still run after it ended: {', '.join(alive)}; "
            "join them (with a timeout that fails the test) before it ends",
            pytrace=False,
        )
    return result


_stray_events_reported = False


@pytest.fixture(autouse=True)
def no_events_left_by_earlier_tests(request: pytest.FixtureRequest) -> None:
    """A database test starts on an empty audit log: an event already committed was
    written by something an earlier test left running (one query per test). Reported
    once per worker, on the first test that meets it; the rows stay until the next
    transactional test's flush."""
    global _stray_events_reported
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not uses_db or _stray_events_reported:
        return
    from django.db import connection

    from audit.models import AuditEvent

    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {AuditEvent._meta.db_table}")  # noqa: S608
        (stray,) = cursor.fetchone()
    if stray:
        _stray_events_reported = True
        # A warning, not a failure: the shared live server's request threads (a
        # browser's last request still being answered) can commit after a Chromium
        # test's end, and they are not the test's to join (seen once in CI).
        warnings.warn(
            f"{stray} audit event(s) were committed before this test began: a thread, "
            "process, live-server request or stream of an earlier test in this worker "
            "wrote after its end",
            stacklevel=1,
        )


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

# How long a browser step may take before it fails: Playwright's own default. A deadline,
# not a pause: steps wait for what they need (``expect``, ``wait_for``, a load state) and
# go on as soon as it is there; this only decides how long a loaded CI machine may take.
BROWSER_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def chromium(service_url: Callable[[str], str]) -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import expect, sync_playwright

    # ``expect`` retries its assertion for 5 s unless told: as long as any other step.
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
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
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield BrowserPage(page)
    context.close()
