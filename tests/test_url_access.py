"""Every URL pattern is either tried by the role x object access matrix or explicitly
public (tests/url_access_registry.py). Walks ``securedrive.urls`` whole: a new URL that
nobody decided about fails ``test_every_url_is_covered_or_declared_public``.

The matrix: each covered URL, filled with Alice's objects (her file, folder, old
version, space, team, share, link, transfer, file request, token, session, device...),
tried by Alice, Oscar (outsider), Sam (site administrator), Audrey (auditor) and an
anonymous visitor, GET and POST. Those the URL is not for get 401/403/404/405 and
change nothing; those it is for are not refused.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import roles, tokens
from accounts.models import (
    Invitation,
    OffboardingReport,
    RoleProposal,
    Team,
    TeamMembership,
    User,
    UserSession,
)
from audit.models import AuditEvent
from files import services
from imaging import services as imaging_services
from imaging.models import DeidentifyJob, Instance
from reviews.models import AccessReview, AccessReviewItem
from sharing.models import ShareRole
from sharing.services import file_requests, shares, transfers
from sharing.services.links import share_link_create
from tests.conftest import user_create
from tests.dicom_factory import ct_study
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in, totp_device_confirmed
from tests.url_access_registry import COVERED, PUBLIC

# 412: the tus endpoints refuse a request without the Tus-Resumable header before
# looking anything up (their per-upload owner checks: tests/test_tus.py).
REFUSED = {401, 403, 404, 405, 412}


def url_names(patterns: list[Any], namespace: str = "") -> Iterator[tuple[str, str]]:
    """(qualified name, route) of every pattern, through every include()."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            for name, route in url_names(pattern.url_patterns, inner):
                yield name, f"{pattern.pattern}{route}"
        elif isinstance(pattern, URLPattern):
            name = pattern.name or ""
            qualified = f"{namespace}:{name}" if namespace and name else name
            yield qualified or f"<unnamed {pattern.pattern}>", str(pattern.pattern)


ALL_URLS = dict(url_names(get_resolver("securedrive.urls").url_patterns))


def test_every_url_is_covered_or_declared_public() -> None:
    undecided = sorted(set(ALL_URLS) - set(COVERED) - set(PUBLIC))
    assert not undecided, (
        "URLs nobody decided about: add each to tests/url_access_registry.py, COVERED "
        f"(who it is for) or PUBLIC (why anyone may open it): {undecided}"
    )
    stale = sorted((set(COVERED) | set(PUBLIC)) - set(ALL_URLS))
    assert not stale, f"the registry names URLs that no longer exist: {stale}"
    assert not set(COVERED) & set(PUBLIC)


# --- The matrix ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def rate_limit_cache(service_url: Callable[[str], str]) -> Iterator[None]:
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": service_url("redis"),
            "KEY_PREFIX": f"sd-url-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=cache):
        yield


@pytest.fixture
def alices(owner: User, team: Team, site_admin: User, folder_backend: Any) -> dict[str, Any]:
    """A value for every URL parameter, each naming something of Alice's."""
    soon = timezone.now() + dt.timedelta(days=3)
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    old = version_store(actor=owner, folder=folder, name="bilan.pdf", content=b"%PDF 1")
    version_store(actor=owner, folder=folder, name="bilan.pdf", content=b"%PDF 22")
    rita = user_create("rita@hopital.example")
    share = shares.share_create(actor=owner, item=folder, recipient=rita, role=ShareRole.VIEWER)
    link, _token = share_link_create(actor=owner, target=old.file)
    transfer = transfers.transfer_create(actor=owner, subject="IRM", expires_at=soon)
    transfer_link, _token = share_link_create(actor=owner, target=transfer)
    file_request, _token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilan", expires_at=soon
    )
    api_token, _plaintext = tokens.token_create(
        actor=owner, name="script", scopes=["read"], expires_in_days=30
    )
    client_signed_in(owner)  # a browser session and a second factor of hers
    invitation = Invitation.objects.create(
        email="new@hopital.example", token_hash=secrets.token_hex(32), expires_at=soon
    )
    proposer = user_create("paula@hopital.example", is_site_admin=True)
    # Made as a row: Alice is in a team, so proposing her as auditor is refused now
    # (accounts.roles, an auditor reads no file content); the page still needs one.
    proposal = RoleProposal.objects.create(
        subject=owner,
        role="auditor",
        proposed_by=proposer,
        expires_at=timezone.now() + roles.PROPOSAL_LIFETIME,
    )
    scan = version_store(
        actor=owner,
        folder=folder,
        name="scanner.dcm",
        content=ct_study(instances_per_series=(1,)).instances[0].data,
    )
    imaging_services.version_index(version_id=scan.pk)
    instance = Instance.objects.get(version=scan)
    job = DeidentifyJob.objects.create(
        study_id=instance.series.study_id, requested_by=owner, send_as="link"
    )
    return {
        "study_id": instance.series.study_id,
        "job_id": job.pk,
        "study_uid": instance.series.study.study_instance_uid,
        "instance_id": instance.pk,
        "file_id": old.file_id,
        "folder_id": folder.pk,
        "space_id": folder.space_id,
        "version_id": old.pk,
        "slug": team.slug,
        "share_id": share.pk,
        "link_id": link.pk,
        "transfer_link_id": transfer_link.pk,
        "transfer_id": transfer.pk,
        "request_id": file_request.pk,
        "token_id": api_token.pk,
        "session_id": UserSession.objects.filter(user=owner).first().pk,  # type: ignore[union-attr]
        "kind": "totp",
        "pk": totp_device_confirmed(owner).pk,
        "membership_id": TeamMembership.objects.get(team=team, user=owner).pk,
        "user_id": owner.pk,
        # The administrator's export is for a leaver (an active person exports their own).
        "person_id": user_create("leo.leaver@hopital.example", is_active=False).pk,
        "invitation_id": invitation.pk,
        "proposal_id": proposal.pk,
        "approval_id": 1,  # none: refused with a message, for an administrator too
        "review_id": (review := access_review_with_one_item(team)).pk,
        "item_id": review.items.get().pk,
        "report_id": OffboardingReport.objects.create(
            user=owner, plan={"user": owner.email, "lines": []}, digest="0" * 64
        ).pk,
        "sequence": AuditEvent.objects.order_by("sequence").first().sequence,  # type: ignore[union-attr]
        "target_type": "files.file",
        "target_id": old.file_id,
        "actor_id": owner.pk,
        "export_format": "jsonl",
        "tree_size": 1,
        "key_format": "pem",
        "upload_id": uuid.uuid4().hex,
    }


def access_review_with_one_item(team: Team) -> AccessReview:
    review = AccessReview.objects.create(team=team, due_at=timezone.now())
    AccessReviewItem.objects.create(
        review=review, kind="member", object_id=0, subject_name="x", member_role="member"
    )
    return review


def url_of(name: str, values: dict[str, Any]) -> str:
    route = ALL_URLS[name]
    kwargs = {
        key: values[key]
        for key in values
        if f"<int:{key}>" in route
        or f"<str:{key}>" in route
        or f"<slug:{key}>" in route
        or f"<uuid:{key}>" in route
        or f"<{key}>" in route
    }
    if name == "sharing:transfer_recipient_revoke":
        kwargs["link_id"] = values["transfer_link_id"]  # a recipient of that transfer
    return reverse(name, kwargs=kwargs)


def answer_of(client: Client, method: str, url: str) -> Any:
    return client.get(url) if method == "GET" else client.post(url, {})


PEOPLE = ["owner", "outsider", "site_admin", "auditor"]


@pytest.mark.django_db
@pytest.mark.parametrize("person", [*PEOPLE, "anonymous"])
def test_each_url_answers_only_those_it_is_for(
    person: str, request: pytest.FixtureRequest, alices: dict[str, Any]
) -> None:
    """One person against every covered URL (the world is built once per person: the
    matrix is ~130 URLs x 5 people x GET/POST)."""
    if person == "anonymous":
        client = Client()
    else:
        user: User = request.getfixturevalue(person)
        # An MFA-verified browser session: accepted by pages and API alike.
        client = client_signed_in(user)
    wrong: list[tuple[str, str, int]] = []
    for name in sorted(COVERED):
        url = url_of(name, alices)
        if person in COVERED[name]:
            # Not refused (GET only: a POST here would really act).
            answer = answer_of(client, "GET", url)
            if answer.status_code in {401, 403}:
                wrong.append((url, "GET", answer.status_code))
            continue
        for method in ("GET", "POST"):
            answer = answer_of(client, method, url)
            if answer.status_code in REFUSED:
                continue
            to_sign_in = answer.status_code == 302 and answer["Location"].startswith(
                "/accounts/login/"
            )
            if not (person == "anonymous" and to_sign_in):
                wrong.append((url, method, answer.status_code))
    assert not wrong, f"{person}: {wrong}"
