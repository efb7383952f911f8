"""A hostile Range header gets 206, 416 or the whole file, never a 500, by every door.

An outside review sent ``Range: bytes=-999…9`` (5,000 nines) to a public link and to the
API: Python's ``int()`` refuses strings over 4,300 digits, and the download answered
500. Every way to a file's content (page, version page, API, API version, external link,
transfer link) shares one parser (``files.downloads.range_requested``); hypothesis
throws malformed, absurd, negative, reversed, multiple and padded ranges at it and at
each door, and the answer must always be one a client can use.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files.downloads import ByteRange, RangeNotSatisfiable, range_requested
from files.models import FileVersion
from sharing.services import transfers
from sharing.services.links import share_link_create
from tests.files_helpers import SEGMENT, Backend, body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

SIZE = 3 * SEGMENT + 5
NINES = "9" * 5000
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

# --- What hostile clients send ----------------------------------------------------------

# Positions as numbers, as absurd digit strings (past Python's 4,300-digit int() limit),
# with leading zeros, signs and non-ASCII digits.
positions = st.one_of(
    st.integers(min_value=0, max_value=2 * SIZE).map(str),
    st.integers(min_value=0, max_value=2**70).map(str),
    st.integers(min_value=18, max_value=6000).map(lambda count: "9" * count),
    st.integers(min_value=1, max_value=5000).map(lambda count: "0" * count + "7"),
    st.sampled_from(["", "-1", "+5", "1e3", "0x10", "١٢", "\uff11\uff12", "1_0", " 3", "3 "]),
)
spaces = st.sampled_from(["", " ", "\t", "  "])
range_specs = st.builds(
    lambda before, first, last, after: f"{before}{first}-{last}{after}",
    spaces,
    positions,
    positions,
    spaces,
)
range_headers = st.one_of(
    st.builds(
        lambda unit, specs: f"{unit}={','.join(specs)}",
        st.sampled_from(["bytes", "BYTES", " bytes ", "items", "bytes "]),
        st.lists(range_specs, min_size=1, max_size=3),
    ),
    st.builds(lambda spec: f"bytes={spec}", st.text(alphabet="0123456789-, \t=", max_size=40)),
    st.text(max_size=80),
)


@given(header=range_headers, size=st.integers(min_value=0, max_value=2**40))
@example(header=f"bytes=-{NINES}", size=SIZE)
@example(header=f"bytes={NINES}-", size=SIZE)
@example(header=f"bytes=0-{NINES}", size=SIZE)
@example(header=f"bytes={NINES}-{NINES}", size=SIZE)
@example(header=f"bytes=-{'0' * 5000}1", size=SIZE)
@settings(max_examples=500, deadline=None, database=None)
def test_the_range_parser_answers_every_header_with_a_range_inside_the_file(
    header: str, size: int
) -> None:
    try:
        chosen = range_requested(header, size)
    except RangeNotSatisfiable:
        return
    if chosen is not None:
        assert isinstance(chosen, ByteRange)
        assert 0 <= chosen.start <= chosen.end < size


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # A suffix longer than the file means the whole file (RFC 9110 §14.1.2).
        (f"bytes=-{NINES}", ByteRange(0, SIZE - 1)),
        (f"bytes=0-{NINES}", ByteRange(0, SIZE - 1)),
        (f"bytes=10-{NINES}", ByteRange(10, SIZE - 1)),
        (f"bytes=-{'0' * 5000}5", ByteRange(SIZE - 5, SIZE - 1)),
        (f"bytes={'0' * 5000}5-9", ByteRange(5, 9)),
        ("bytes= 5 - 9 ", ByteRange(5, 9)),
        ("bytes=-5-9", None),  # negative: not a range
        ("bytes=9-5", None),  # reversed: ignored
        ("bytes=0-1,4-5", None),  # several: the whole file
        ("bytes=\uff11-\uff12", None),  # fullwidth digits are not digits here
    ],
)
def test_absurd_positions_saturate_instead_of_overflowing(
    header: str, expected: ByteRange | None
) -> None:
    assert range_requested(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={NINES}-",
        f"bytes={NINES}-{NINES}",
        f"bytes={NINES}-{'8' * 5000}",  # reversed, but both past any file
    ],
)
def test_a_start_beyond_any_file_is_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        range_requested(header, SIZE)


# --- Every door -------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    name: str
    client: Client
    url: str


@pytest.fixture
def rate_limit_cache(service_url: Callable[[str], str]) -> Iterator[None]:
    """Link counters in Redis, as in production, under a prefix of this test's own."""
    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": service_url("redis"),
            "KEY_PREFIX": f"sd-ranges-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=cache_settings):
        yield


@pytest.fixture
def doors(owner: User, folder_backend: Backend, rate_limit_cache: None) -> list[Door]:
    """Alice's scan-clean file, reachable six ways; each door has its own client (and
    address, so a link's per-address rate limit is not what is being tested)."""
    version = version_store(
        actor=owner, folder=root_of(owner), name="IRM genou.dcm", content=content_of(SIZE)
    )
    file = version.file
    _token, api_token = tokens.token_create(
        actor=owner, name="PACS export", scopes=["read"], expires_in_days=30
    )
    _link, link_token = share_link_create(actor=owner, target=file)
    transfer = transfers.transfer_create(
        actor=owner, subject="IRM", expires_at=timezone.now() + dt.timedelta(days=7)
    )
    assert transfer.folder is not None
    sent_version: FileVersion = version_store(
        actor=owner, folder=transfer.folder, name="IRM genou.dcm", content=content_of(SIZE)
    )
    [sent] = transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )

    def browser() -> Client:
        return client_signed_in(owner)

    def api() -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")

    def recipient(address: str, token: str) -> Client:
        client = Client(REMOTE_ADDR=address)
        assert client.get(reverse("share_link:open", args=[token])).status_code == 200
        return client

    return [
        Door("page", browser(), f"/files/{file.pk}/download/"),
        Door("version page", browser(), f"/files/{file.pk}/versions/{version.pk}/download/"),
        Door("api", api(), f"/api/v1/files/{file.pk}/content/"),
        Door("api version", api(), f"/api/v1/files/{file.pk}/versions/{version.pk}/content/"),
        Door(
            "link",
            recipient("198.51.100.1", link_token),
            reverse("share_link:file", args=[link_token, file.pk]),
        ),
        Door(
            "transfer",
            recipient("198.51.100.2", sent.token),
            reverse("share_link:file", args=[sent.token, sent_version.file_id]),
        ),
    ]


def assert_usable_answer(door: Door, header: str) -> None:
    response = door.client.get(door.url, HTTP_RANGE=header)
    status = response.status_code
    assert status in (200, 206, 416), (door.name, header[:80], status)
    if status == 416:
        assert response["Content-Range"] == f"bytes */{SIZE}", door.name
        return
    content = content_of(SIZE)
    if status == 200:
        assert body_of(response) == content, door.name
        return
    matched = CONTENT_RANGE.fullmatch(response["Content-Range"])
    assert matched, (door.name, response["Content-Range"])
    start, end, size = (int(part) for part in matched.groups())
    assert size == SIZE
    assert body_of(response) == content[start : end + 1], (door.name, header[:80])


@pytest.mark.usefixtures("transfers_without_code")
def test_five_thousand_nines_get_the_whole_file_not_a_500_by_every_door(
    doors: list[Door],
) -> None:
    for door in doors:
        response = door.client.get(door.url, HTTP_RANGE=f"bytes=-{NINES}")
        assert response.status_code == 206, door.name
        assert response["Content-Range"] == f"bytes 0-{SIZE - 1}/{SIZE}", door.name
        assert body_of(response) == content_of(SIZE), door.name
        beyond = door.client.get(door.url, HTTP_RANGE=f"bytes={NINES}-")
        assert beyond.status_code == 416, door.name
    # What the audit log keeps of such a header is bounded.
    recorded = [
        event.details["range"]
        for event in AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD)
        if event.details.get("range")
    ]
    assert recorded
    assert all(len(header) <= 100 for header in recorded)


@pytest.mark.usefixtures("transfers_without_code")
@given(header=range_headers)
@example(header=f"bytes=-{NINES}")
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_every_door_answers_hostile_ranges_with_206_416_or_the_whole_file(
    doors: list[Door], header: str
) -> None:
    for door in doors:
        assert_usable_answer(door, header)
