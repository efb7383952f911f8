"""The clamd client against a real clamd loaded with the repository's test signatures."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from files.clamd import ClamdClient, ClamdError, Verdict

# Assembled at run time so that the repository never holds the EICAR string itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
OWN_PATTERN = b"SECUREDRIVE-TEST-MALWARE-PATTERN-7f3c9a"


@pytest.fixture
def clamd(service_url: Callable[[str], str]) -> ClamdClient:
    return ClamdClient(service_url("clamd"), timeout_s=30)


def test_clamd_answers_ping_and_version(clamd: ClamdClient) -> None:
    assert clamd.ping()
    assert clamd.version().startswith("ClamAV")


def test_clean_document_is_clean(clamd: ClamdClient) -> None:
    letter = b"%PDF-1.7\nCompte rendu de consultation, patient X.\n" * 2000
    result = clamd.instream(letter[i : i + 8192] for i in range(0, len(letter), 8192))
    assert result.verdict is Verdict.CLEAN


@pytest.mark.parametrize("payload", [EICAR, b"padding " * 1000 + OWN_PATTERN + b" tail"])
def test_known_patterns_are_found(clamd: ClamdClient, payload: bytes) -> None:
    result = clamd.instream([payload])
    assert result.verdict is Verdict.INFECTED
    assert result.detail  # the signature name


def test_pattern_inside_a_zip_is_found(clamd: ClamdClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scan/report.txt", EICAR)
    assert clamd.instream([buffer.getvalue()]).verdict is Verdict.INFECTED


def test_stream_over_the_limit_is_an_error_not_clean(clamd: ClamdClient) -> None:
    """clamd hangs up past StreamMaxLength (64 MiB in tests): never report that as clean."""
    chunk = b"\0" * (1 << 20)
    result = clamd.instream(chunk for _ in range(80))
    assert result.verdict is Verdict.ERROR
    assert "size limit" in result.detail.lower()


def test_unreachable_clamd_raises() -> None:
    client = ClamdClient("tcp://127.0.0.1:9", timeout_s=2)
    assert client.ping() is False
    with pytest.raises(ClamdError):
        client.instream([b"data"])


@pytest.mark.parametrize("address", ["127.0.0.1:3310", "http://x:1", "unix://"])
def test_bad_addresses_are_rejected(address: str) -> None:
    with pytest.raises(ClamdError):
        ClamdClient(address)
