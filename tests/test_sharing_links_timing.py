"""Link tokens cannot be told apart by timing: posting a password for an unknown token
takes as long as a wrong password for a real one (a dummy Argon2 hash is computed).

Measured robustly for a loaded 2-core CI machine: 20 samples of each, interleaved (so a
burst of load hits both), compared by their medians with a generous bound. Without the
dummy hash the unknown token answers ~10x faster (no Argon2): far outside the bound.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from sharing.services import link_access as access
from sharing.services.links import share_link_create
from tests.files_helpers import Backend
from tests.test_sharing_links import open_url, shared_file

pytestmark = [pytest.mark.usefixtures("rate_limit_cache"), pytest.mark.django_db]

SAMPLES = 20


def timed_post(token: str, password: str, address: str) -> tuple[float, Any]:
    client = Client(REMOTE_ADDR=address)
    started = time.perf_counter()
    response = client.post(open_url(token), {"action": "password", "password": password})
    return time.perf_counter() - started, response


def test_an_unknown_token_and_a_wrong_password_take_the_same_time(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limits would otherwise answer the later samples (cheaply, but identically).
    monkeypatch.setattr(access, "RATE_GUESSES_PER_LINK", "1000/m")
    monkeypatch.setattr(access, "RATE_GUESSES_PER_IP", "1000/m")
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file, password="Radiologie-2026")
    unknown_token = "Q" * 43
    timed_post(token, "warm-up", "192.0.2.250")  # first request: imports, templates
    timed_post(unknown_token, "warm-up", "192.0.2.251")

    unknown: list[float] = []
    wrong: list[float] = []
    for sample in range(SAMPLES):
        elapsed, response = timed_post(unknown_token, f"guess-{sample}", f"192.0.2.{sample}")
        assert response.status_code == 404
        unknown.append(elapsed)
        elapsed, response = timed_post(token, f"guess-{sample}", f"198.51.100.{sample}")
        assert response.status_code == 200
        assert b"Wrong password." in response.content
        wrong.append(elapsed)

    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(  # the measurement, for the CI log
        f"median unknown {statistics.median(unknown) * 1000:.1f} ms, "
        f"wrong password {statistics.median(wrong) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.6 < ratio < 1.6
