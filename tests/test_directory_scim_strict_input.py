"""What a directory sends that SecureDrive must refuse, or read exactly as RFC 7643/7644
say, found by an outside review: an externalId given to two people, filter strings with
JSON escapes, names longer than the account keeps, and a key given twice in one JSON
object. Every refusal is a SCIM error a directory's operator can act on, and an audit
event an auditor can read; nothing stored changes."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from tests.test_directory_scim import SCIM, Directory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def directory(site_admin: User) -> Directory:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Directory(raw)


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).order_by("pk"))


# --- One value per key ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        (
            "post",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],'
            b' "userName": "twice@chu.example", "active": true, "active": false}',
        ),
        (
            "patch",
            b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations":'
            b' [{"op": "replace", "path": "active", "value": false, "value": true}]}',
        ),
    ],
    ids=["create", "patch-operation"],
)
def test_a_key_given_twice_is_refused_not_read_as_its_last_value(
    directory: Directory, owner: User, method: str, raw: bytes
) -> None:
    """``{"active": true, "active": false}``: the last value won. A proxy, a log or a
    reviewer reading the first would not see what was done (RFC 8259 §4: names SHOULD
    be unique; RFC 7493 I-JSON: MUST)."""
    path = "/scim/v2/Users" if method == "post" else f"/scim/v2/Users/{owner.pk}"

    answer = getattr(directory.client, method)(path, raw, content_type=SCIM)

    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidSyntax"), answer.content
    assert "“" in answer.json()["detail"]
    assert "twice" in answer.json()["detail"]
    assert not User.objects.filter(email="twice@chu.example").exists()
    owner.refresh_from_db()
    assert owner.is_active
    assert _refusals()[-1].details["scim_type"] == "invalidSyntax"
