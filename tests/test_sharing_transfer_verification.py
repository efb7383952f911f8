"""A transfer's recipient confirms their e-mail address with a one-time code before
downloading, by default: a clinician sends an MRI to a radiologist outside the
hospital; whoever else reads that e-mail (forwarded, a shared mailbox, a mistyped
address) gets no file without the code sent to the radiologist's mailbox.

The recipient's journey, with verification on: the e-mail in their language, the code
page, wrong and expired codes, the limits on guesses and on codes, the download, a
second browser, and a confirmation that does not last for the link's whole life.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files.models import File
from sharing.models import ShareLink, SharingPolicy, Transfer
from sharing.services import link_access, transfers
from tests.files_helpers import body_of, content_of, version_store
from tests.helpers import client_signed_in, expiry_fields

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]

RADIOLOGIST = "dr.radio@clinique.example"
LINK_PATTERN = re.compile(r"https?://[^\s\"<>]+/s/([A-Za-z0-9_-]{43})/")
BEFORE = ("sharing", "0006_external_sharing_suspension")
AFTER = ("sharing", "0007_transfer_email_verification_on_by_default")


def transfer_sent(
    owner: User,
    capture: Any,
    *,
    to: str = RADIOLOGIST,
    subject: str = "IRM genou — Mme Durand",
    name: str = "irm-genou.dcm",
    **form: str,
) -> tuple[Transfer, File, str]:
    """Alice sends one file from the page, as a clinician does; returns the transfer,
    its file and the recipient's token (read from their e-mail)."""
    client = client_signed_in(owner)
    created = client.post(
        "/sharing/transfers/new/", {"subject": subject, "message": "", **expiry_fields(7)}
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    transfer = Transfer.objects.latest("pk")
    assert transfer.folder is not None
    file = version_store(
        actor=owner, folder=transfer.folder, name=name, content=content_of(4000, seed=name)
    ).file
    with capture(execute=True):
        sent = client.post(f"/sharing/transfers/{transfer.pk}/send/", {"recipients": to, **form})
    assert sent.status_code == 302, sent.content.decode()[:3000]
    found = LINK_PATTERN.search(str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return transfer, file, found.group(1)


def code_asked(browser: Client, token: str, capture: Any) -> str:
    with capture(execute=True):
        answer = browser.post(f"/s/{token}/", {"action": "send_code"}, follow=True)
    assert answer.redirect_chain == [(f"/s/{token}/", 302)]
    assert 'id="link-notice"' in answer.content.decode()  # "We sent a code…", in their language
    return str(mail.outbox[-1].subject.rsplit(" ", 1)[-1])


def code_typed(browser: Client, token: str, code: str) -> Any:
    return browser.post(f"/s/{token}/", {"action": "code", "code": code})


def wrong(code: str) -> str:
    return "00000000" if code != "00000000" else "11111111"


def verify_events() -> list[dict[str, Any]]:
    return [
        event.details
        for event in AuditEvent.objects.filter(action=Action.SHARING_LINK_VERIFY).order_by(
            "sequence"
        )
    ]


# --- The default ----------------------------------------------------------------------------


def test_a_new_installation_asks_transfer_recipients_for_a_code_before_any_file(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    assert not SharingPolicy.objects.exists()  # a new installation: no policy saved yet
    transfer, file, token = transfer_sent(owner, django_capture_on_commit_callbacks)

    assert SharingPolicy.current().transfer_email_verification_required
    link = ShareLink.objects.get(transfer=transfer)
    assert link.email_verification
    assert "You will be asked for a code sent to this e-mail address." in mail.outbox[-1].body
    # Whoever else reads the e-mail: the code step, never the file.
    forwarded = Client()
    landing = forwarded.get(f"/s/{token}/").content.decode()
    assert 'id="link-email-step"' in landing
    assert "irm-genou.dcm" not in landing
    assert forwarded.get(f"/s/{token}/files/{file.pk}/").status_code == 302


def test_the_sender_is_told_before_and_after_sending_that_recipients_need_the_emailed_code(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The site requires the code (its default): Alice reads, before sending and once
    sent, that each recipient types a code sent to their own address, so she can warn a
    secretariat sharing a mailbox or a colleague abroad; in French as in English."""
    client = client_signed_in(owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    created = client.post(
        "/sharing/transfers/new/", {"subject": "Radio", "message": "", **expiry_fields(7)}
    )
    transfer = Transfer.objects.get(pk=created["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name="radio.pdf", content=b"%PDF 1")
    draft = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    notice = draft[draft.index('id="transfer-code-notice"') :]
    assert "un code envoyé à sa propre adresse e-mail" in notice[: notice.index("</div>")]

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(
            f"/sharing/transfers/{transfer.pk}/send/",
            {"recipients": f"{RADIOLOGIST}\nsecretariat@cabinet.example"},
            follow=True,
        )
    page = sent.content.decode()
    assert "chacun tapera un code envoyé à sa propre adresse" in page
    assert page.count("Un code envoyé à cette adresse lui est demandé avant tout") == 2

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    assert english.count("Asked for a code sent to this address before downloading.") == 2

    # A site that leaves the code to the sender: no notice of a requirement.
    SharingPolicy.objects.filter(pk=1).update(transfer_email_verification_required=False)
    other = transfers.transfer_create(
        actor=owner, subject="Sans code", expires_at=transfer.expires_at
    )
    assert 'id="transfer-code-notice"' not in (
        client.get(f"/sharing/transfers/{other.pk}/").content.decode()
    )


def test_the_send_form_and_the_api_ask_for_the_code_unless_the_sender_unticks_it(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """A site that leaves the choice to senders: the box comes ticked, the API's default
    is on; a sender may still untick it."""
    SharingPolicy.objects.create(pk=1, transfer_email_verification_required=False)
    client = client_signed_in(owner)
    created = client.post(
        "/sharing/transfers/new/", {"subject": "Radio", "message": "", **expiry_fields(7)}
    )
    transfer = Transfer.objects.get(pk=created["Location"].rstrip("/").rsplit("/", 1)[-1])
    page = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    box = re.search(r"<input[^>]*name=\"email_verification\"[^>]*>", page)
    assert box is not None
    assert "checked" in box.group(0)
    assert "disabled" not in box.group(0)

    unticked = {"recipients": ["b@clinique.example"], "email_verification": False}
    for subject, data, expected in (
        ("API default", {"recipients": ["a@clinique.example"]}, True),
        ("API unticked", unticked, False),
    ):
        api_transfer = client.post(
            "/api/v1/sharing/transfers/",
            {"subject": subject, "expires_in_days": 7},
            content_type="application/json",
        )
        assert api_transfer.status_code == 201, api_transfer.content
        made = Transfer.objects.get(pk=api_transfer.json()["id"])
        assert made.folder is not None
        version_store(actor=owner, folder=made.folder, name="f.txt", content=b"RAS")
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(
                f"/api/v1/sharing/transfers/{made.pk}/send/",
                data,
                content_type="application/json",
            )
        assert answer.status_code in (200, 201), answer.content
        assert ShareLink.objects.get(transfer=made).email_verification is expected


def test_the_policy_page_recommends_the_code_while_it_is_off_and_saving_it_is_audited(
    site_admin: User,
) -> None:
    SharingPolicy.objects.create(pk=1, transfer_email_verification_required=False)
    admin = client_signed_in(site_admin)
    page = admin.get("/sharing/policy/").content.decode()
    assert 'id="policy-recommends-transfer-verification"' in page
    assert "Recommended" in page

    form = {
        "external_sharing": "everyone",
        "link_default_days": "7",
        "link_max_days": "30",
        "transfer_email_verification_required": "on",
        "allowed_recipient_domains": "",
        "file_request_max_files": "100",
        "file_request_max_gib": "20",
    }
    assert admin.post("/sharing/policy/", form).status_code == 302
    assert SharingPolicy.current().transfer_email_verification_required
    (event,) = AuditEvent.objects.filter(action=Action.SHARING_POLICY_UPDATE)
    assert event.details["changed"] == {
        "transfer_email_verification_required": {"before": False, "after": True}
    }
    page = admin.get("/sharing/policy/").content.decode()
    assert 'id="policy-recommends-transfer-verification"' not in page


@pytest.fixture
def sharing_before_the_default(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The schema of an installation from before the new default, brought back after."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    executor.loader.build_graph()
    try:
        yield executor
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_an_existing_installation_keeps_its_stored_policy_and_new_ones_get_the_code(
    sharing_before_the_default: MigrationExecutor,
) -> None:
    """An administrator's stored "off" cannot be told from a choice: the upgrade keeps
    it (the policy page recommends the change), and changes nothing else."""
    old_apps = sharing_before_the_default.loader.project_state([BEFORE]).apps
    old_apps.get_model("sharing", "SharingPolicy").objects.create(
        pk=1, link_max_days=14, password_required=True
    )

    sharing_before_the_default.loader.build_graph()
    sharing_before_the_default.migrate([AFTER])

    stored = SharingPolicy.objects.get(pk=1)
    assert stored.transfer_email_verification_required is False
    assert (stored.link_max_days, stored.password_required) == (14, True)
    assert not stored.email_verification_required
    stored.delete()
    assert SharingPolicy.current().transfer_email_verification_required is True


# --- The recipient's journey ------------------------------------------------------------------


def test_the_recipient_gets_the_code_in_their_language_and_downloads_after_it(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    _transfer, file, token = transfer_sent(
        owner, django_capture_on_commit_callbacks, recipient_language="fr"
    )
    invitation = mail.outbox[-1]
    assert "Un code envoyé à cette adresse e-mail vous sera demandé." in invitation.body

    recipient = Client(HTTP_ACCEPT_LANGUAGE="fr")
    landing = recipient.get(f"/s/{token}/").content.decode()
    assert "Confirmez votre adresse e-mail" in landing
    assert "d***@clinique.example" in landing
    code = code_asked(recipient, token, django_capture_on_commit_callbacks)
    message = mail.outbox[-1]
    assert message.to == [RADIOLOGIST]
    assert message.subject == f"Votre code SecureDrive\u00a0: {code}"
    assert "valable 10 minutes" in message.body
    assert code_typed(recipient, token, f"{code[:4]} {code[4:]}").status_code == 302
    download = recipient.get(f"/s/{token}/files/{file.pk}/")
    assert download.status_code == 200
    assert body_of(download) == content_of(4000, seed="irm-genou.dcm")

    # In English for a recipient whose browser speaks English.
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=False):
        code_asked(english, token, django_capture_on_commit_callbacks)
    assert mail.outbox[-1].subject.startswith("Your SecureDrive code: ")


def test_wrong_and_expired_codes_say_what_to_do_and_are_audited(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    transfer, _file, token = transfer_sent(owner, django_capture_on_commit_callbacks)
    # The same radiologist received another transfer: its code opens only that one.
    _other, _other_file, other_token = transfer_sent(
        owner, django_capture_on_commit_callbacks, subject="Scanner", name="coupes.dcm"
    )
    recipient = Client()
    code = code_asked(recipient, token, django_capture_on_commit_callbacks)
    other_code = code_asked(recipient, other_token, django_capture_on_commit_callbacks)

    typo = code_typed(recipient, token, wrong(code))
    assert typo.status_code == 400
    assert "This code is wrong. You can try 4 more times" in typo.content.decode()
    if other_code != code:
        crossed = code_typed(recipient, token, other_code)
        assert crossed.status_code == 400
        assert "This code is wrong." in crossed.content.decode()
        assert "Scanner" not in crossed.content.decode()
    waiting = ShareLink.objects.get(transfer=transfer).codes.get(used_at__isnull=True)
    for _attempt in range(link_access.CODE_MAX_ATTEMPTS - waiting.attempts):
        code_typed(recipient, token, wrong(code))
    spent = code_typed(recipient, token, code)
    assert spent.status_code == 400
    assert "Too many wrong codes: this one no longer works." in spent.content.decode()

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=False):
        fresh = code_asked(recipient, token, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=13), tick=False):
        late = code_typed(recipient, token, fresh)
    assert late.status_code == 400
    assert "This code has expired" in late.content.decode()

    # Five codes an hour per link, whoever asks (the recipient's inbox is not a hose).
    start = timezone.now()
    for minutes in (17, 19, 21):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            code_asked(recipient, token, django_capture_on_commit_callbacks)
    with time_machine.travel(start + dt.timedelta(minutes=23), tick=False):
        sent = len(mail.outbox)
        refused = recipient.post(f"/s/{token}/", {"action": "send_code"})
    assert "Too many codes were sent for this link. Try again in an hour." in (
        refused.content.decode()
    )
    assert len(mail.outbox) == sent

    refusals = [
        details
        for details in verify_events()
        if details["step"] == "code" and details["outcome"] == "bad code"
    ]
    assert {details["reason"] for details in refusals} == {
        "wrong code",
        "too many wrong attempts",
        "expired",
    }
    assert all(details["recipient"] == RADIOLOGIST for details in refusals)
    assert all(code not in str(details) for details in verify_events())


def test_guessing_codes_is_stopped_with_a_clear_429(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    _transfer, file, token = transfer_sent(owner, django_capture_on_commit_callbacks)
    recipient = Client()
    code = code_asked(recipient, token, django_capture_on_commit_callbacks)
    for attempt in range(10):
        guesser = Client(REMOTE_ADDR=f"198.51.100.{attempt + 1}")
        assert code_typed(guesser, token, wrong(code)).status_code == 400
    stopped = code_typed(recipient, token, code)
    assert stopped.status_code == 429
    assert int(stopped["Retry-After"]) > 60
    assert "Too many attempts" in stopped.content.decode()
    assert verify_events()[-1]["outcome"] == "rate limited"
    assert recipient.get(f"/s/{token}/files/{file.pk}/").status_code == 302


def test_each_browser_confirms_on_its_own_and_a_confirmation_lapses_after_hours(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    _transfer, file, token = transfer_sent(owner, django_capture_on_commit_callbacks)
    laptop = Client()
    code = code_asked(laptop, token, django_capture_on_commit_callbacks)
    assert code_typed(laptop, token, code).status_code == 302
    assert laptop.get(f"/s/{token}/files/{file.pk}/").status_code == 200

    # The same link on a phone (or in a forwarded e-mail): its own code.
    phone = Client()
    assert 'id="link-email-step"' in phone.get(f"/s/{token}/").content.decode()
    assert phone.get(f"/s/{token}/files/{file.pk}/").status_code == 302

    # Still the same afternoon: the laptop downloads without a new code.
    start = timezone.now()
    lifetime = link_access.PROOF_LIFETIME
    with time_machine.travel(start + lifetime - dt.timedelta(minutes=5), tick=False):
        assert laptop.get(f"/s/{token}/files/{file.pk}/").status_code == 200
    # Past it (the link lasts a week, and every download kept the browser's session
    # alive): a new code, from the recipient's mailbox.
    with time_machine.travel(start + lifetime + dt.timedelta(minutes=5), tick=False):
        assert laptop.get(f"/s/{token}/files/{file.pk}/").status_code == 302
        again = laptop.get(f"/s/{token}/").content.decode()
        assert 'id="link-email-step"' in again
        # Said, not left to guess ("but I confirmed already").
        assert "Your confirmation in this browser has lapsed" in again
    assert "lapsed" not in phone.get(f"/s/{token}/").content.decode()
