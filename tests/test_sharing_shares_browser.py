"""In a real browser: Alice shares a folder with Rita, Rita works in it, Alice takes it back."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from sharing.models import Share
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.test_browser_offboarding import browser_signed_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("folder_backend"),
]


def test_alice_shares_a_folder_rita_opens_it_then_alice_removes_her(
    chromium: Any, live_server: Any, owner: User
) -> None:
    rita = user_create("rita.radiologue@hopital.example", full_name="Rita Radiologue")
    patient = services.folder_create(actor=owner, parent=root_of(owner), name="Patients Dupont")
    imaging = services.folder_create(actor=owner, parent=patient, name="Imagerie")
    version_store(actor=owner, folder=imaging, name="scan.dcm", content=b"scan")

    alice = browser_signed_in(chromium, live_server, owner)
    alice.page.goto(f"/files/folders/{imaging.pk}/")
    alice.page.get_by_role("link", name="Share", exact=True).click()
    alice.page.get_by_label("Person or team").fill(rita.email)
    alice.page.get_by_label("Role").select_option("editor")
    alice.page.get_by_role("button", name="Share", exact=True).click()
    alice.page.get_by_text("Shared with rita.radiologue@hopital.example.").wait_for()
    alice.page.locator("#shares").get_by_text("Rita Radiologue").wait_for()
    alice.screenshot("sharing-shares-owner")
    shared_mail = [message.to for message in mail.outbox if "shared" in message.subject]
    assert shared_mail == [[rita.email]]

    recipient = browser_signed_in(chromium, live_server, rita)
    recipient.page.goto("/sharing/shared-with-me/")
    recipient.page.get_by_role("link", name="Imagerie").click()
    recipient.page.get_by_role("link", name="scan.dcm").first.wait_for()
    assert "Patients Dupont" not in recipient.page.content()
    recipient.page.locator("#upload-zone").wait_for()  # an editor may upload
    recipient.screenshot("sharing-shares-recipient")

    share = Share.objects.get(user=rita)
    row = alice.page.locator(f'tr[data-share="{share.pk}"]')
    row.get_by_role("button", name="Withdraw access").click()
    alice.page.get_by_text("Access of Rita").first.wait_for()
    response = recipient.page.reload()
    assert response is not None
    assert response.status == 404

    actions = list(
        AuditEvent.objects.filter(action__startswith="sharing.share.").values_list(
            "action", flat=True
        )
    )
    assert actions == [Action.SHARING_SHARE_CREATE, Action.SHARING_SHARE_DELETE]
    assert alice.console_errors == []
    assert [error for error in recipient.console_errors if "404" not in error] == []
    alice.page.context.close()
    recipient.page.context.close()
