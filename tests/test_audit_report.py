"""An investigation report (issue #14, item 4): Audrey, the auditor, answers "who saw
Alice's echo?" on one printable page she can attach to an incident file, with the
signed CSV and JSON Lines of exactly those events, the chain's verification and the
signed checkpoint that covers them. Generating it is itself recorded."""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from accounts.models import User
from audit import checkpoints
from audit.actions import Action
from audit.models import AuditEvent
from audit.verify_export import signed_message_v2
from tests.files_helpers import Backend
from tests.helpers import client_signed_in
from tests.test_audit_questions import (
    MORNING,
    RECIPIENT,
    audit_folders,  # noqa: F401  (autouse fixture: checkpoints and key in tmp_path)
    downloads_of_the_echo,
    echo_in_cardiology,
    page_sequences,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]


def test_a_report_on_a_file_is_printable_evidence_with_its_signed_exports(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    with time_machine.travel(MORNING, tick=False):
        echo = echo_in_cardiology(owner)
        downloads_of_the_echo(owner, echo)
        checkpoints.checkpoint_write(force=True)
        checkpoints.audit_log_verify_and_alert(full=True)
    with time_machine.travel(MORNING.replace(hour=14), tick=False):
        client = client_signed_in(auditor)
        history = client.get("/audit/file/", {"item": f"file:{echo.pk}"})
        link = re.search(r'href="(/audit/report/\?[^"]+)"', history.content.decode())
        assert link is not None, "the file's history offers its report"

        response = client.get(link.group(1).replace("&amp;", "&"))
        assert response.status_code == 200
        page = response.content.decode()
        assert "Investigation report" in page
        assert "Who accessed the file “Echo Dupont.pdf”?" in page
        assert "Files of Alice Martin / Cardiologie" in page
        assert f"Audrey Auditor ({auditor.email})" in page
        assert "2026-01-15 15:30:00 CET</time> (Europe/Paris)" in page  # 14:30 UTC
        assert "securedrive/audit-report.css" in page  # its print rules (A4, no navigation)
        totals = page[page.index('id="report-totals"') : page.index('id="report-integrity"')]
        assert "2 (2 complete)" in totals  # Alice's download and the radiologist's
        # Decimal, as the console's rows (core/sizes.py): was Django's binary "9.8 KB".
        assert "10.0\xa0kB" in totals
        assert RECIPIENT in totals
        assert "Alice Martin" in totals
        assert "It covers every event of this report." in page
        assert "signature valid" in page
        root = checkpoints.checkpoint_open_trusted(
            checkpoints.checkpoint_store(), checkpoints.checkpoint_store().sizes()[-1]
        ).root_hash
        assert base64.b64encode(root).decode() in page
        assert "link:" not in page

        # The CSV the report names is the one it prints the hash and signature of, and it
        # holds the report's rows, no more, no less.
        csv_url = re.search(r'href="(/audit/export\.csv\?[^"]+)"', page)
        assert csv_url is not None
        export = client.get(csv_url.group(1).replace("&amp;", "&"))
        assert export.status_code == 200, (csv_url.group(1), export.content[:300])
        exported = export.getvalue()
        digest = hashlib.sha256(exported).hexdigest()
        assert f"SHA-256 {digest}" in page
        signed = re.search(
            rf"SHA-256 {digest}<br>Ed25519 ([A-Za-z0-9+/=]+)<br>Signed statement: ([^<]+)<", page
        )
        assert signed is not None
        # The paper alone is checkable: the printed statement is what the key signed,
        # and it names the file's hash and the report's question.
        statement = json.loads(html.unescape(signed.group(2)))
        key = load_pem_public_key(checkpoints.public_key_pem())
        assert isinstance(key, Ed25519PublicKey)
        key.verify(base64.b64decode(signed.group(1)), signed_message_v2(statement))
        assert statement["sha256"] == digest
        assert statement["filter"]["item"] == f"file:{echo.pk}"
        assert f"the log as it stood at event #{statement['up_to_sequence']}" in page
        assert statement["events"] == len(page_sequences(response))
        assert statement["made_by"] == auditor.email
        rows = csv.DictReader(io.StringIO(exported.decode("utf-8-sig")))
        assert sorted(int(row["sequence"]) for row in rows) == sorted(page_sequences(response))

        recorded = AuditEvent.objects.filter(action=Action.AUDIT_REPORT).get()
        assert recorded.actor_id == str(auditor.pk)
        assert recorded.details["item"] == f"file:{echo.pk}"
        assert recorded.details["csv_sha256"] == digest


def test_a_report_on_a_person_between_two_dates(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    with time_machine.travel(MORNING, tick=False):
        echo = echo_in_cardiology(owner)
        downloads_of_the_echo(owner, echo)
    response = client_signed_in(auditor).get(
        "/audit/report/",
        {"actor": owner.email, "since": "2026-01-15T00:00", "until": "2026-01-16T00:00"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"What did Alice Martin ({owner.email}) do?" in page
    assert "From 2026-01-15 00:00 CET until 2026-01-16 00:00 CET" in page
    assert "No signed checkpoint covers event" in page  # none written in this story
    assert "No verification has run yet." in page
    assert "Echo Dupont.pdf" in page


def test_a_report_needs_a_question_and_is_for_auditors_only(auditor: User, owner: User) -> None:
    refused = client_signed_in(auditor).get("/audit/report/")
    assert refused.status_code == 400
    assert 'id="report-refused"' in refused.content.decode()
    assert client_signed_in(owner).get("/audit/report/", {"actor": owner.email}).status_code == 403
    assert not AuditEvent.objects.filter(action=Action.AUDIT_REPORT).exists()
