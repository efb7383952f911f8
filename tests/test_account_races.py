"""Two people, or a person and the directory, act on the same accounts at the same
instant, on the real PostgreSQL: what each sees, checks and writes must hold together.

Each race holds both transactions at the audit chain's lock (taken by every audited
change) until both have done their checks: the widest window two real requests can
meet in. Then both go on, in whichever order PostgreSQL lets them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from accounts import offboarding
from accounts import services as account_services
from accounts.errors import AccountRuleError
from accounts.models import AccountPolicy, Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from directory.models import DirectoryAccount, DirectoryGroup
from directory.tokens import directory_token_create
from files import services as files_services
from files.models import File
from sharing.errors import FileRequestRuleError, LinkRuleError, TransferRuleError
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links, transfers
from tests.conftest import user_create
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import threads_join
from tests.withdrawal_helpers import RADIOLOGIST

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("on_postgres", "folder_backend", "small_segments"),
]

AUDIT_CHAIN_LOCK = 1589682385  # audit/migrations/0003_append_function.py


def lock_waiters() -> int:
    """Backends of this database waiting for a lock (row or advisory), this one aside."""
    with connection.cursor() as cursor:
        # Read afresh even inside a transaction (statistics are a snapshot otherwise).
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def audit_held() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_CHAIN_LOCK])


def together(
    *works: Callable[[], Any], people_held: tuple[User, ...] = (), in_order: bool = False
) -> list[Any]:
    """Run ``works`` in threads of their own (each its own connection), released
    together, held at the audit chain's lock (and at the rows of ``people_held``) until
    all of them wait on a lock; then let them go. ``in_order``: each starts once the one
    before waits, so they queue for the audit chain's lock in that order. Returns what
    each returned or raised."""
    results: list[Any] = [None] * len(works)
    barrier = threading.Barrier(1 if in_order else len(works))

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = works[index]()
        except BaseException as error:  # reported by the caller, with the others
            results[index] = error
        finally:
            connections.close_all()

    def waiting(count: int) -> None:
        for _attempt in range(3000):
            if lock_waiters() >= count:
                return
            threading.Event().wait(0.01)
        raise AssertionError("the transactions never all came to wait")

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(works))]
    try:
        with audit_held(), transaction.atomic():
            list(User.objects.select_for_update().filter(pk__in=[p.pk for p in people_held]))
            for index, thread in enumerate(threads):
                thread.start()
                if in_order:
                    waiting(index + 1)
            waiting(len(works))
    finally:
        threads_join(*threads, timeout_s=120)
    return results


def in_a_week() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=7)


# --- A leaver's sharing under way while the administrator deactivates them ------------------


def report_of(owner: User) -> File:
    return version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(800)
    ).file


def link_write(owner: User) -> Callable[[], Any]:
    report = report_of(owner)
    return lambda: links.share_link_create(
        actor=owner, target=report, expires_at=in_a_week(), recipient_email="ami@mail.example"
    )


def transfer_write(owner: User) -> Callable[[], Any]:
    return lambda: transfers.transfer_create(
        actor=owner, subject="IRM genou", expires_at=in_a_week()
    )


def file_request_write(owner: User) -> Callable[[], Any]:
    folder = root_of(owner)
    return lambda: file_requests.file_request_create(
        actor=owner, folder=folder, title="Vos analyses", expires_at=in_a_week()
    )


# What offboarding withdraws (internal shares the leaver made stay with the files, by
# design: docs/accounts.md). name: (prepare the write, what is left alive, its action)
SHARING_WRITES: dict[str, tuple[Callable[[User], Callable[[], Any]], Callable[[], Any], str]] = {
    "link": (
        link_write,
        lambda: ShareLink.objects.filter(revoked_at__isnull=True),
        Action.SHARING_LINK_CREATE,
    ),
    "transfer": (
        transfer_write,
        lambda: Transfer.objects.filter(revoked_at__isnull=True, purged_at__isnull=True),
        Action.SHARING_TRANSFER_CREATE,
    ),
    "file request": (
        file_request_write,
        lambda: FileRequest.objects.filter(closed_at__isnull=True),
        Action.SHARING_REQUEST_CREATE,
    ),
}
REFUSALS = (LinkRuleError, TransferRuleError, FileRequestRuleError)


@pytest.mark.parametrize("write", list(SHARING_WRITES))
def test_what_a_leaver_shares_while_being_deactivated_is_withdrawn_or_refused(
    write: str, owner: User, site_admin: User
) -> None:
    """Alice's form is posted at the very moment the administrator deactivates her.
    Before, the write asked whether she was active without locking her row: the
    offboarding made its plan without the new link (not committed yet), then the link
    committed, alive after the offboarding that was meant to cut her off. Now either the
    write comes first and the offboarding withdraws it, or it waits and is refused."""
    prepare, alive, action = SHARING_WRITES[write]
    work = prepare(owner)
    as_loaded = User.objects.get(pk=owner.pk)

    made, deactivated = together(
        work,
        lambda: offboarding.user_deactivate(actor=site_admin, user=owner, successor=None),
    )

    assert isinstance(deactivated, dict), deactivated
    owner.refresh_from_db()
    assert not owner.is_active
    assert as_loaded.is_active  # what the request believed
    assert list(alive()) == [], f"{write} outlived the offboarding"
    if isinstance(made, BaseException):
        assert isinstance(made, REFUSALS), made
        assert made.status_code == 403
        refused = AuditEvent.objects.get(action=action, outcome=Outcome.DENIED)
        assert refused.details["reason"] == "account deactivated"
    # The log reads in order: nothing of hers succeeded after her deactivation.
    deactivation = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert not AuditEvent.objects.filter(
        action=action,
        outcome=Outcome.SUCCESS,
        actor_id=str(owner.pk),
        sequence__gt=deactivation.sequence,
    ).exists()


# --- The last site administrators removed at the same instant -------------------------------


def two_last_admins(site_admin: User) -> tuple[User, User]:
    nadia = user_create("nadia.admin@hopital.example", full_name="Nadia Admin", is_site_admin=True)
    return site_admin, nadia


def active_admins() -> list[str]:
    return sorted(
        User.objects.filter(is_site_admin=True, is_active=True).values_list("email", flat=True)
    )


def test_two_admins_withdrawing_each_others_role_at_once_leave_one_admin(
    site_admin: User,
) -> None:
    """Sam and Nadia, the site's two administrators, each untick the other's role on
    the roles page at the same moment. Before, each change locked its own person's row
    and then the other administrators' rows: the two waited for each other and
    PostgreSQL killed one as a deadlock (an error page, nothing said, nothing audited).
    Now the two queue: the first withdrawal goes through, the second is refused because
    it would leave the site without an administrator."""
    sam, nadia = two_last_admins(site_admin)

    def withdraw(actor: User, subject: User) -> Callable[[], Any]:
        return lambda: account_services.user_roles_set(
            actor=actor, user=subject, is_site_admin=False, is_auditor=False
        )

    # Both pages read their person at the same instant: the widest window.
    outcomes = together(withdraw(sam, nadia), withdraw(nadia, sam), people_held=(sam, nadia))

    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], AccountRuleError), refused
    assert "last active site administrator" in str(refused[0])
    assert len(active_admins()) == 1
    assert (
        AuditEvent.objects.filter(action=Action.ACCOUNTS_USER_ROLES, outcome=Outcome.DENIED)
        .get()
        .details["reason"]
        == "last_site_admin"
    )


def test_the_directory_deleting_the_two_last_admins_at_once_keeps_one(site_admin: User) -> None:
    """The directory (SCIM) sends DELETE for both remaining administrators in parallel
    (Entra ID and Okta push changes concurrently). Before, each request checked "another
    administrator is still active" without a lock, both passed, and the site had no
    administrator left. Now the second waits for the first and is refused (400)."""
    sam, nadia = two_last_admins(site_admin)
    _token, raw = directory_token_create(actor=sam, name="Entra ID")

    def delete(person: User) -> Callable[[], Any]:
        return lambda: (
            Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
            .delete(f"/scim/v2/Users/{person.pk}")
            .status_code
        )

    outcomes = together(delete(sam), delete(nadia))

    assert sorted(outcomes) == [204, 400], outcomes
    assert len(active_admins()) == 1


# --- The directory giving one externalId to two people at once -----------------------------


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_two_directory_posts_at_once_cannot_give_one_external_id_to_two(
    site_admin: User, resource: str
) -> None:
    """Entra ID pushes two new people (or teams) with the same externalId at the same
    instant. Before, each request checked "nobody has this externalId" in code, both
    passed, and a directory matching on externalId then changed, or deactivated,
    whichever it found first. Now the database holds it: one is created, the other gets
    SCIM's 409 uniqueness naming the externalId, recorded as a refused request."""
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    # The token's first use stamps it: done now, so that neither request waits on the
    # other's stamp before its own checks (a queue, not a race).
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/scim/v2/Users").status_code == 200

    def post(number: int) -> Callable[[], Any]:
        if resource == "Users":
            email = f"infirmier{number}@chu.example"
            body: dict[str, Any] = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "emails": [{"value": email, "type": "work", "primary": True}],
                "externalId": "e-4242",
            }
        else:
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": f"Pédiatrie {number}",
                "externalId": "e-4242",
            }

        def send() -> tuple[int, dict[str, Any]]:
            response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
                f"/scim/v2/{resource}", json.dumps(body), content_type="application/scim+json"
            )
            return response.status_code, response.json()

        return send

    outcomes = together(post(1), post(2))

    assert sorted(status for status, _body in outcomes) == [201, 409], outcomes
    [(_status, refused)] = [outcome for outcome in outcomes if outcome[0] == 409]
    assert refused["scimType"] == "uniqueness"
    assert "externalId" in refused["detail"]
    holders = DirectoryAccount if resource == "Users" else DirectoryGroup
    assert holders.objects.filter(external_id="e-4242").count() == 1
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).count() == 1


# --- Two administrators saving the account policy at once -----------------------------------


def test_two_admins_saving_the_account_policy_at_once_leave_a_true_record(
    site_admin: User,
) -> None:
    """Sam shortens the idle timeout while Nadia lengthens API tokens, each from the
    policy page as it stood, both pressing Save at the same moment. Before, each compared
    its form with the policy read without a lock: the second save overwrote the first's
    change and the log said nothing of it (its "before" values were the page's, not the
    policy's). Now the saves queue: the second compares with what the first left, so
    every change — the first's undone by the second included — is in the log, and the
    log replayed gives the policy as it is."""
    sam, nadia = two_last_admins(site_admin)
    shown = AccountPolicy.current()
    fields = ["session_idle_minutes", "session_max_hours", "token_max_days"]
    page = {field: getattr(shown, field) for field in fields}
    initial = dict(page)

    def save(actor: User, field: str, value: int) -> Callable[[], Any]:
        return lambda: account_services.policy_update(
            actor=actor, policy=AccountPolicy.current(), changes={**page, field: value}
        )

    outcomes = together(
        save(sam, "session_idle_minutes", page["session_idle_minutes"] - 5),
        save(nadia, "token_max_days", page["token_max_days"] + 30),
    )

    assert outcomes == [None, None], outcomes
    replayed = dict(initial)
    for event in AuditEvent.objects.filter(action=Action.ACCOUNTS_POLICY_UPDATE):
        for field, change in event.details["changed"].items():
            assert change["before"] == replayed[field], (field, change)
            replayed[field] = change["after"]
    final = AccountPolicy.current()
    assert replayed == {field: getattr(final, field) for field in fields}


# --- A colleague's write naming a person while that person's row is locked ------------------


def test_sharing_with_a_colleague_while_she_makes_an_api_token_never_deadlocks(
    owner: User,
) -> None:
    """Bob shares a report with Alice at the moment Alice creates an API token. The
    token's creation locked Alice's row FOR UPDATE, then waited for the audit chain;
    Bob's share, holding the audit chain, checked at its commit that Alice exists (a
    foreign key: FOR KEY SHARE on her row), which FOR UPDATE blocks: a deadlock,
    PostgreSQL killed one of the two (an error page). A person's row is now locked FOR
    NO KEY UPDATE where its key does not change, which foreign-key checks pass."""
    from accounts import tokens
    from sharing.services import shares

    bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
    report = version_store(
        actor=bob, folder=root_of(bob), name="compte-rendu.pdf", content=content_of(800)
    ).file

    share, token = together(
        lambda: shares.share_create(actor=bob, item=report, recipient=owner, role="viewer"),
        lambda: tokens.token_create(
            actor=owner, name="Import PACS", scopes=["read"], expires_in_days=30
        ),
        in_order=True,
    )

    assert not isinstance(share, BaseException), share
    assert not isinstance(token, BaseException), token


# --- A colleague sharing with a person at the instant that person is deactivated ------------


def share_to_leaver(leaver: User) -> Callable[[], Any]:
    from sharing.services import shares

    bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
    report = version_store(
        actor=bob, folder=root_of(bob), name="compte-rendu.pdf", content=content_of(800)
    ).file
    as_loaded = User.objects.get(pk=leaver.pk)  # Bob's form found her active
    return lambda: shares.share_create(actor=bob, item=report, recipient=as_loaded, role="viewer")


def team_add_of_leaver(leaver: User, site_admin: User) -> Callable[[], Any]:
    from accounts.models import Team

    team = Team.objects.create(name="Cardiologie", slug="cardiologie")
    as_loaded = User.objects.get(pk=leaver.pk)
    return lambda: account_services.team_member_set(
        actor=site_admin, team=team, user=as_loaded, role="member"
    )


def what_leaver_holds(leaver: User) -> list[str]:
    from accounts.models import TeamMembership
    from sharing.models import Share

    held = [f"share {pk}" for pk in Share.objects.filter(user=leaver).values_list("pk", flat=True)]
    return held + [
        f"team {name}"
        for name in TeamMembership.objects.filter(user=leaver).values_list("team__name", flat=True)
    ]


@pytest.mark.parametrize("grant", ["share", "team"])
def test_what_a_colleague_grants_a_leaver_while_she_is_deactivated_is_withdrawn_or_refused(
    grant: str, owner: User, site_admin: User
) -> None:
    """Bob shares a report with Alice (or an administrator adds her to a team) at the
    very moment Alice is deactivated. Before, the write checked that Alice was active on
    the object its form had loaded and locked only Bob's row: the offboarding made its
    plan without the new share, then the share committed, alive after the offboarding,
    and Alice would read the report again the day she is reactivated. Now the write locks
    Alice's row too: either it comes first and the offboarding removes it, or it waits,
    sees her deactivated and is refused, on record, with a message Bob can read."""
    work = share_to_leaver(owner) if grant == "share" else team_add_of_leaver(owner, site_admin)

    made, deactivated = together(
        work,
        lambda: offboarding.user_deactivate(actor=site_admin, user=owner, successor=None),
    )

    assert isinstance(deactivated, dict), deactivated
    owner.refresh_from_db()
    assert not owner.is_active
    assert what_leaver_holds(owner) == [], f"the {grant} outlived the offboarding"
    if isinstance(made, BaseException):
        from sharing.errors import ShareRuleError

        assert isinstance(made, (ShareRuleError, AccountRuleError)), made
        assert "not active" in str(made) or "Deactivated" in str(made), made
        action = (
            Action.SHARING_SHARE_CREATE if grant == "share" else Action.ACCOUNTS_TEAM_MEMBER_SET
        )
        refused = AuditEvent.objects.get(action=action, outcome=Outcome.DENIED)
        reason = "recipient_inactive" if grant == "share" else "user_inactive"
        assert refused.details["reason"] == reason
        assert "alice.martin@hopital.example" in str(refused.details)  # who, readable


# --- A leaver's files writes under way while the administrator deactivates them -------------


def files_write(kind: str, leaver: User) -> Callable[[], Any]:
    from accounts.models import Team, TeamMembership
    from files import services as files_services
    from files.uploads import BlobIngest

    team = Team.objects.create(name="Cardiologie", slug="cardiologie")
    TeamMembership.objects.create(team=team, user=leaver, role="member")
    team_root = files_services.space_root(files_services.space_team_get_or_create(team=team))
    as_loaded = User.objects.get(pk=leaver.pk)  # the request's person, loaded before
    if kind == "upload":
        ingest = BlobIngest(max_bytes=1000)
        ingest.write(content_of(800))
        sealed = ingest.finish()  # the body arrived; the upload completes now
        return lambda: files_services.file_upload(
            actor=as_loaded, folder=team_root, name="irm.dcm", sealed=sealed
        )
    report = report_of(leaver)
    if kind == "copy":
        return lambda: files_services.file_copy(actor=as_loaded, file=report, destination=team_root)
    return lambda: files_services.file_move(actor=as_loaded, file=report, destination=team_root)


@pytest.mark.parametrize("kind", ["upload", "copy", "move"])
def test_a_leavers_files_write_into_a_team_space_while_being_deactivated_lands_before_or_not(
    kind: str, owner: User, site_admin: User
) -> None:
    """Alice's upload completes (or her copy or move of a report into her team's space
    goes through) at the very moment she is deactivated. Before, the write asked whether
    she was active without locking her row: the offboarding made its plan, then her
    write committed after it, a file of hers written into the team's space by a
    deactivated account. Now it either commits before the offboarding or waits and is
    refused, on record."""
    from files.errors import FileRuleError

    work = files_write(kind, owner)
    action = {
        "upload": Action.FILES_FILE_UPLOAD,
        "copy": Action.FILES_FILE_COPY,
        "move": Action.FILES_FILE_MOVE,
    }[kind]

    # The deactivation queues first for the audit chain, her write just after it (its
    # check passed meanwhile): the order in which the two commit when they race.
    deactivated, made = together(
        lambda: offboarding.user_deactivate(actor=site_admin, user=owner, successor=None),
        work,
        in_order=True,
    )

    assert isinstance(deactivated, dict), deactivated
    if isinstance(made, BaseException):
        assert isinstance(made, FileRuleError), made
        assert made.status_code == 403
        refused = AuditEvent.objects.filter(outcome=Outcome.DENIED, actor_id=str(owner.pk))
        assert [event.details.get("reason") for event in refused] == ["account deactivated"]
    deactivation = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert not AuditEvent.objects.filter(
        action=action,
        outcome=Outcome.SUCCESS,
        actor_id=str(owner.pk),
        sequence__gt=deactivation.sequence,
    ).exists(), f"her {kind} landed after her deactivation"


# --- A colleague sending to a person's address at the instant she is deactivated ------------


def link_to_leaver(leaver: User) -> Callable[[], Any]:
    bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
    report = report_of(bob)
    return lambda: links.share_link_create(
        actor=bob, target=report, expires_at=in_a_week(), recipient_email=leaver.email
    )


def transfer_to(sender: User, *recipients: str) -> Callable[[], Any]:
    transfer = transfers.transfer_create(actor=sender, subject="IRM genou", expires_at=in_a_week())
    assert transfer.folder is not None
    version_store(actor=sender, folder=transfer.folder, name="irm.dcm", content=content_of(900))
    return lambda: transfers.transfer_send(
        actor=sender, transfer=transfer, recipients=list(recipients)
    )


@pytest.mark.parametrize("way", ["link", "transfer"])
def test_what_is_sent_to_a_leavers_address_as_she_is_deactivated_is_withdrawn_or_refused(
    way: str, owner: User, site_admin: User
) -> None:
    """Bob sends Alice a report by link (or an MRI by transfer, with a radiologist) at the
    very moment Alice is deactivated. The link's creation locks the row of the account
    behind the address with Bob's: either it commits first and the offboarding withdraws
    it, or it waits, sees her deactivated and is refused. Never a link to her mailbox
    alive after her offboarding."""
    if way == "link":
        work = link_to_leaver(owner)
    else:
        bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
        work = transfer_to(bob, owner.email, "dr.radio@clinique.example")

    made, deactivated = together(
        work, lambda: offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    )

    assert isinstance(deactivated, dict), deactivated
    alive = ShareLink.objects.filter(
        recipient_email__iexact=owner.email, revoked_at__isnull=True
    ).exists()
    assert not alive, f"the {way} to her address outlived the offboarding"
    if isinstance(made, BaseException):
        assert isinstance(made, (LinkRuleError, TransferRuleError)), made
        assert "colleague who left" in str(made), made
        if way == "link":
            refused = AuditEvent.objects.get(
                action=Action.SHARING_LINK_CREATE, outcome=Outcome.DENIED
            )
            assert refused.details["rule"] == "recipient_inactive"
        else:  # the whole transfer, nothing sent to the radiologist either
            refused = AuditEvent.objects.get(
                action=Action.SHARING_TRANSFER_SEND, outcome=Outcome.DENIED
            )
            assert "colleague who left" in refused.details["reason"]
            assert not ShareLink.objects.exists()


def test_two_colleagues_sending_transfers_to_each_other_at_once_never_deadlock(
    owner: User,
) -> None:
    """Each transfer locks the rows of the accounts behind its recipients' addresses with
    the sender's, in one statement (ascending id): Alice sending to Bob while Bob sends to
    Alice must not wait for each other crosswise."""
    bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
    from_alice, from_bob = transfer_to(owner, bob.email), transfer_to(bob, owner.email)

    sent = together(from_alice, from_bob)

    assert all(isinstance(result, list) for result in sent), sent
    assert ShareLink.objects.filter(revoked_at__isnull=True).count() == 2


# --- A colleague sending to a person's address at the instant the directory changes it -----


def address_changed_by_directory(person: User, site_admin: User, new: str) -> Callable[[], Any]:
    from directory.scim.users import user_replace

    token, _raw = directory_token_create(actor=site_admin, name="Entra ID")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": new,
        "displayName": person.full_name,
        "emails": [{"value": new, "type": "work", "primary": True}],
        "active": True,
    }
    return lambda: user_replace(token=token, user=person, body=body)


@pytest.mark.parametrize("way", ["link", "transfer"])
def test_what_is_sent_to_an_address_as_the_directory_changes_it_is_withdrawn_or_refused(
    way: str, owner: User, site_admin: User
) -> None:
    """Bob sends Alice a report by link (or an MRI by transfer, with a radiologist) while
    the directory changes her address: the change holds her row, then withdraws what was
    sent to the former address. Bob's send, made for Alice at her former address, waits
    for her row; once it has it, her address is no longer the one he typed: refused,
    saying so, never a live link to the former mailbox (seen failing: it was made)."""
    former = owner.email
    if way == "link":
        work = link_to_leaver(owner)
    else:
        bob = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
        work = transfer_to(bob, former, "dr.radio@clinique.example")
    change = address_changed_by_directory(owner, site_admin, "alice.durand@hopital.example")

    # The change first (it holds her row, waiting for the audit chain), then Bob's send.
    changed, made = together(change, work, in_order=True)

    assert isinstance(changed, User), changed
    assert changed.email == "alice.durand@hopital.example"
    alive = ShareLink.objects.filter(recipient_email__iexact=former, revoked_at__isnull=True)
    assert not alive.exists(), f"the {way} to her former address outlived the change"
    assert isinstance(made, (LinkRuleError, TransferRuleError)), made
    assert "is no longer the address of Alice Martin" in str(made), made
    if way == "link":
        refused = AuditEvent.objects.get(action=Action.SHARING_LINK_CREATE, outcome=Outcome.DENIED)
        assert refused.details["rule"] == "recipient_address_changed"
    else:  # the whole transfer, nothing sent to the radiologist either
        refused = AuditEvent.objects.get(
            action=Action.SHARING_TRANSFER_SEND, outcome=Outcome.DENIED
        )
        assert "is no longer the address of Alice Martin" in refused.details["reason"]
        assert not ShareLink.objects.exists()


# --- Opening a team's file to outsiders at the instant she is removed from the team ---------


def cardiology_echo(alice: User, team: Team) -> File:
    """Mrs Dupont's echo, in Cardiologie's space."""
    folder = files_services.space_root(files_services.space_team_get_or_create(team=team))
    return version_store(
        actor=alice, folder=folder, name="Dupont Marie - echo.jpg", content=content_of(700)
    ).file


def opening_of_team_file(way: str, alice: User, echo: File) -> Callable[[], Any]:
    if way == "link":
        return lambda: links.share_link_create(
            actor=alice, target=echo, expires_at=in_a_week(), recipient_email=RADIOLOGIST
        )
    if way == "file request":
        return lambda: file_requests.file_request_create(
            actor=alice, folder=echo.folder, title="Bilans Dupont", expires_at=in_a_week()
        )
    # A draft holding the echo and a letter of her own, sent at that instant.
    transfer = transfers.transfer_create(actor=alice, subject="Echo Dupont", expires_at=in_a_week())
    letter = version_store(
        actor=alice, folder=root_of(alice), name="Lettre Martin.pdf", content=content_of(500)
    ).file
    transfers.transfer_files_add(actor=alice, transfer=transfer, files=[echo, letter])
    return lambda: transfers.transfer_send(actor=alice, transfer=transfer, recipients=[RADIOLOGIST])


def echo_open_to_outsiders(echo: File) -> list[str]:
    """What still opens the echo (or its folder) to people outside, by kind."""
    now = timezone.now()
    found = [
        "link"
        for _link in ShareLink.objects.filter(
            file=echo, revoked_at__isnull=True, expires_at__gt=now
        )
    ]
    found += [
        "transfer"
        for _transfer in Transfer.objects.filter(
            sent_at__isnull=False, revoked_at__isnull=True, items__file=echo
        )
    ]
    found += [
        "file request"
        for _request in FileRequest.objects.filter(folder=echo.folder, closed_at__isnull=True)
    ]
    return found


@pytest.mark.usefixtures("transfers_without_code")
@pytest.mark.parametrize("way", ["link", "transfer", "file request"])
def test_what_she_opens_on_a_team_file_as_she_is_removed_from_the_team_is_refused(
    way: str, owner: User, team: Team, site_admin: User
) -> None:
    """Sam removes Alice from Cardiologie at the very moment she sends Mrs Dupont's echo
    (Cardiologie's) to a radiologist, by link or transfer, or opens a file request into
    its folder. The removal locks her membership, withdraws what she opened on the
    team's files, and waits for the audit chain; her write, checked against the
    membership it still saw, went on. Before, it committed after the withdrawal had run:
    live, refused at each request but never withdrawn nor audited as such (seen failing:
    a live link, a sent transfer holding the echo, an open request). Now her write waits
    for her membership row; once it has it, she is no longer of the team: the link and
    the request are refused (409) saying so, and the transfer goes without the echo."""
    echo = cardiology_echo(owner, team)
    membership = TeamMembership.objects.get(team=team, user=owner)
    removal = lambda: account_services.team_member_remove(  # noqa: E731
        actor=site_admin,
        membership=membership,
        reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
    )
    write = opening_of_team_file(way, owner, echo)

    # The removal first (it holds her membership, waiting for the audit chain), then hers.
    removed, made = together(removal, write, in_order=True)

    assert isinstance(removed, dict), removed
    assert not TeamMembership.objects.filter(team=team, user=owner).exists()
    assert echo_open_to_outsiders(echo) == [], f"the {way} outlived her leaving the team"
    assert not any(key.endswith(("_withdrawn", "_closed")) for key in removed), removed
    if way == "transfer":
        assert isinstance(made, list), made  # sent, with her own letter only
        sent = AuditEvent.objects.get(action=Action.SHARING_TRANSFER_SEND)
        assert sent.details["withdrawn"] == ["Dupont Marie - echo.jpg"]
        return
    assert isinstance(made, (LinkRuleError, FileRequestRuleError)), made
    assert made.status_code == 409
    assert "You are no longer a member of Cardiologie" in str(made), made
    action = Action.SHARING_LINK_CREATE if way == "link" else Action.SHARING_REQUEST_CREATE
    refused = AuditEvent.objects.get(action=action, outcome=Outcome.DENIED)
    assert refused.details["rule"] == "team_left"
    assert refused.details["team"] == "Cardiologie"


@pytest.mark.usefixtures("transfers_without_code")
@pytest.mark.parametrize("way", ["link", "transfer", "file request"])
def test_what_she_opens_on_a_team_file_just_before_her_removal_is_withdrawn_by_it(
    way: str, owner: User, team: Team, site_admin: User
) -> None:
    """The other order: her write holds her row and her membership, waiting for the
    audit chain, when Sam removes her. The removal waits for her membership, then finds
    what she made and withdraws it, counted in its event; neither waits for the other
    crosswise."""
    echo = cardiology_echo(owner, team)
    membership = TeamMembership.objects.get(team=team, user=owner)
    removal = lambda: account_services.team_member_remove(  # noqa: E731
        actor=site_admin,
        membership=membership,
        reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
    )
    write = opening_of_team_file(way, owner, echo)

    made, removed = together(write, removal, in_order=True)

    assert not isinstance(made, BaseException), made
    assert isinstance(removed, dict), removed
    assert echo_open_to_outsiders(echo) == []
    counted = {"link": "links_withdrawn", "transfer": "transfers_withdrawn"}
    assert removed[counted.get(way, "file_requests_closed")] == 1
