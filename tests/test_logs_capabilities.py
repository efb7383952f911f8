"""Log lines carry no working capability: besides share links (/s/) and file requests
(/r/), three more URLs hold a secret in their path, and gunicorn writes every path it
serves (docs/production.md, "The proxy": tokens are replaced in every log line).

* the set-up link (/accounts/setup/<uid>/<token>/): whoever has it chooses the
  password of an account, the first administrator's included, for 24 hours;
* an invitation (/accounts/invitation/<token>/): whoever has it creates the account;
* an account link to the identity provider (/sso/account-link/<token>/): whoever has
  it ties their provider identity to someone's account.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import pytest
from django.urls import reverse

from core.log_format import TOKEN_REDACTED, UTCFormatter, tokens_redacted

TOKEN = secrets.token_urlsafe(32)


def access_lines(path: str) -> list[str]:
    """What gunicorn's access log writes for a GET of ``path`` (the site's logger class)."""
    from gunicorn.config import Config  # type: ignore[import-untyped]

    from securedrive.gunicorn_logging import UTCLogger

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", '%(h)s "%(m)s %(U)s %(H)s" %(s)s "%(r)s" "%(f)s"')
    logger = UTCLogger(config)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(logger.access_log.handlers[0].formatter)
    logger.access_log.addHandler(keep)

    class Response:
        status = "302 Found"
        response_length = 0
        sent = 0
        headers: list[tuple[str, str]] = []

    class Request:
        headers: list[tuple[str, str]] = []
        method = "GET"
        uri = path
        query = ""
        version = (1, 1)

    Request.path = path  # type: ignore[attr-defined]
    environ = {
        "REMOTE_ADDR": "198.51.100.7",
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://drive.example{path}",
    }
    logger.access(Response(), Request(), environ, dt.timedelta(milliseconds=3))
    return lines


@pytest.mark.parametrize(
    ("url_name", "args"),
    [
        ("accounts:setup", ["MTI", TOKEN]),
        ("accounts:invitation_accept", [TOKEN]),
        ("sso:account_link", [TOKEN]),
    ],
)
def test_a_capability_in_an_account_url_never_reaches_the_access_log(
    url_name: str, args: list[str]
) -> None:
    path = reverse(url_name, args=args)
    lines = access_lines(path)
    assert lines
    assert all(TOKEN not in line for line in lines), lines
    assert TOKEN_REDACTED in lines[0]


def test_the_application_log_redacts_them_too() -> None:
    """Django's "Not Found: <path>" and tracebacks go through the same formatter."""
    logger_name = "django.request"
    record = logging.LogRecord(
        logger_name,
        logging.WARNING,
        __file__,
        1,
        "Not Found: %s",
        (reverse("accounts:invitation_accept", args=[TOKEN]),),
        None,
    )
    assert TOKEN not in UTCFormatter("%(message)s").format(record)
    # What is not a secret stays readable.
    assert tokens_redacted("/accounts/setup/done/") == "/accounts/setup/done/"
    assert tokens_redacted("/files/12/") == "/files/12/"
