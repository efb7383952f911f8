"""The catalogue of audit actions: every action the product records, once.

Each action has the dotted code stored in ``AuditEvent.action`` (``<app>.<entity>.<verb>``),
a translated label for the console and the alert e-mails, a category an auditor can
filter on, and the detail fields that hold personal data (someone's e-mail address,
name or IP address), which the privacy app reads for a person's data export.

The codes are what the log stores and what its hash chain covers: they are never
renamed (a renamed code would leave older events uncatalogued, and the alert rules
blind to them). Add an action here before recording it: ``audit.services.record``
refuses a code that is not catalogued, and tests/test_audit_actions.py fails on a
dotted action string written anywhere else in the source. Modelled on zulip's
``AuditLogEventType`` and pretix's log entry types.

The columns ``actor_label``, ``ip_address`` and ``user_agent`` hold personal data in
every event; ``personal_details`` lists only what the details add.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    ACCESS = "access", _("access")
    FILES = "files", _("files and folders")
    SHARING = "sharing", _("sharing")
    ACCOUNT = "account", _("account")
    ADMIN = "admin", _("administration")
    INTEGRITY = "integrity", _("integrity")


class Action(enum.StrEnum):
    """One catalogued action; a member is its code (a ``str``), so it is stored, filtered
    and compared as the code itself."""

    _value_: str
    label: Promise
    category: Category
    personal_details: frozenset[str]

    def __new__(
        cls,
        code: str,
        label: Promise,
        category: Category,
        personal_details: Iterable[str] = (),
    ) -> Action:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = label
        member.category = category
        member.personal_details = frozenset(personal_details)
        return member

    # Accounts: signing in and out, second factor, sessions, tokens.
    ACCOUNTS_LOGIN = "accounts.login", _("signed in"), Category.ACCESS
    ACCOUNTS_LOGOUT = "accounts.logout", _("signed out"), Category.ACCESS
    ACCOUNTS_LOCKOUT = "accounts.lockout", _("locked out after failed sign-ins"), Category.ACCESS
    ACCOUNTS_MFA_VERIFY = "accounts.mfa.verify", _("checked second factor"), Category.ACCESS
    ACCOUNTS_MFA_RECOVERY_CODE_USE = (
        "accounts.mfa.recovery_code.use",
        _("used a recovery code"),
        Category.ACCESS,
    )
    ACCOUNTS_MFA_RECOVERY_CODES_GENERATE = (
        "accounts.mfa.recovery_codes.generate",
        _("generated recovery codes"),
        Category.ACCOUNT,
    )
    ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE = (
        "accounts.mfa.recovery_codes.invalidate",
        _("ended recovery codes made under a retired key"),
        Category.ACCOUNT,
        ("email",),
    )
    ACCOUNTS_MFA_DEVICE_ADD = (
        "accounts.mfa.device.add",
        _("added a second-factor device"),
        Category.ACCOUNT,
    )
    ACCOUNTS_MFA_DEVICE_RENAME = (
        "accounts.mfa.device.rename",
        _("renamed a second-factor device"),
        Category.ACCOUNT,
    )
    ACCOUNTS_MFA_DEVICE_REMOVE = (
        "accounts.mfa.device.remove",
        _("removed a second-factor device"),
        Category.ACCOUNT,
    )
    ACCOUNTS_PASSWORD_SET = "accounts.password.set", _("set a password"), Category.ACCOUNT
    ACCOUNTS_SETUP_LINK_USE = (
        "accounts.setup_link.use",
        _("opened an account set-up link"),
        Category.ACCESS,
    )
    ACCOUNTS_SESSION_EXPIRE = "accounts.session.expire", _("session ended"), Category.ACCESS
    ACCOUNTS_SESSION_REVOKE = (
        "accounts.session.revoke",
        _("signed out a session"),
        Category.ACCOUNT,
        ("ip",),
    )
    ACCOUNTS_SESSION_REVOKE_ALL = (
        "accounts.session.revoke_all",
        _("signed out everywhere"),
        Category.ACCOUNT,
    )
    ACCOUNTS_TOKEN_CREATE = "accounts.token.create", _("created an access token"), Category.ACCOUNT
    ACCOUNTS_TOKEN_REVOKE = (
        "accounts.token.revoke",
        _("revoked an access token"),
        Category.ACCOUNT,
        ("owner_id",),
    )
    ACCOUNTS_TOKEN_USE = "accounts.token.use", _("used an access token"), Category.ACCESS
    # Accounts: administration.
    ACCOUNTS_ADMIN_ACCESS = (
        "accounts.admin.access",
        _("opened the administration"),
        Category.ADMIN,
    )
    ACCOUNTS_SETUP_LINK_ISSUE = (
        "accounts.setup_link.issue",
        _("issued a one-time set-up link from the command line"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_SETUP_LINK_SEND = (
        "accounts.setup_link.send",
        _("sent a one-time set-up link"),
        Category.ADMIN,
        ("email", "name", "former_email", "address_changed_by", "token_created_by"),
    )
    ACCOUNTS_FIRST_ADMIN_CREATE = (
        "accounts.first_admin.create",
        _("created the first administrator"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_INVITATION_SEND = (
        "accounts.invitation.send",
        _("invited someone"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_INVITATION_USE = "accounts.invitation.use", _("opened an invitation"), Category.ACCESS
    ACCOUNTS_INVITATION_ACCEPT = (
        "accounts.invitation.accept",
        _("accepted an invitation"),
        Category.ACCOUNT,
        ("invited_by",),
    )
    ACCOUNTS_INVITATION_REVOKE = (
        "accounts.invitation.revoke",
        _("revoked an invitation"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_USER_ROLES = (
        "accounts.user.roles",
        _("changed someone's roles"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_USER_DEPARTURE_SCHEDULE = (
        "accounts.user.departure_schedule",
        _("scheduled a departure"),
        Category.ADMIN,
        ("email", "successor"),
    )
    ACCOUNTS_USER_DEPARTURE_CANCEL = (
        "accounts.user.departure_cancel",
        _("cancelled a departure"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_USER_DEACTIVATE = (
        "accounts.user.deactivate",
        _("deactivated an account"),
        Category.ADMIN,
        ("email", "successor"),
    )
    ACCOUNTS_USER_REACTIVATE = (
        "accounts.user.reactivate",
        _("reactivated an account"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_TEAM_CREATE = "accounts.team.create", _("created a team"), Category.ADMIN
    ACCOUNTS_TEAM_MEMBER_SET = (
        "accounts.team.member_set",
        _("set a team member"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_TEAM_MEMBER_REMOVE = (
        "accounts.team.member_remove",
        _("removed a team member"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_POLICY_UPDATE = (
        "accounts.policy.update",
        _("changed the security policy"),
        Category.ADMIN,
    )

    # Files: reading, changing, and the pipeline behind them.
    FILES_ACCESS = "files.access", _("opened a file or folder"), Category.ACCESS
    # ``recipient``: the outside address of the link a member of a ZIP was sent through.
    FILES_VERSION_DOWNLOAD = (
        "files.version.download",
        _("downloaded"),
        Category.ACCESS,
        ("recipient",),
    )
    # Only a refused search text is recorded, never a search: docs/storage.md, "Search".
    FILES_SEARCH_REFUSE = "files.search.refuse", _("search refused"), Category.ACCESS
    FILES_UPLOAD_START = "files.upload.start", _("started an upload"), Category.FILES
    FILES_UPLOAD_COMPLETE = "files.upload.complete", _("finished an upload"), Category.FILES
    FILES_UPLOAD_TERMINATE = "files.upload.terminate", _("cancelled an upload"), Category.FILES
    FILES_UPLOAD_REJECT = "files.upload.reject", _("upload refused"), Category.FILES
    FILES_FILE_UPLOAD = "files.file.upload", _("uploaded"), Category.FILES
    FILES_FILE_RENAME = "files.file.rename", _("renamed a file"), Category.FILES
    # A move out of a space names whose it left and entered (files.services.common.
    # space_change_details): a person as "Name <address>".
    FILES_FILE_MOVE = (
        "files.file.move",
        _("moved a file"),
        Category.FILES,
        # Those whose links, transfers and file requests on it the move withdrew
        # (sharing/services/move_out.py), "Name <address>".
        ("from_owner", "to_owner", "withdrawn_from"),
    )
    FILES_FILE_COPY = "files.file.copy", _("copied a file"), Category.FILES
    FILES_FILE_DELETE = "files.file.delete", _("moved a file to the trash"), Category.FILES
    FILES_FILE_RESTORE = "files.file.restore", _("restored a file"), Category.FILES
    FILES_FILE_PURGE = "files.file.purge", _("deleted a file for good"), Category.FILES
    FILES_FOLDER_CREATE = "files.folder.create", _("created a folder"), Category.FILES
    FILES_FOLDER_RENAME = "files.folder.rename", _("renamed a folder"), Category.FILES
    FILES_FOLDER_MOVE = (
        "files.folder.move",
        _("moved a folder"),
        Category.FILES,
        ("from_owner", "to_owner", "withdrawn_from"),
    )
    FILES_FOLDER_DELETE = "files.folder.delete", _("moved a folder to the trash"), Category.FILES
    FILES_FOLDER_RESTORE = "files.folder.restore", _("restored a folder"), Category.FILES
    FILES_FOLDER_PURGE = "files.folder.purge", _("deleted a folder for good"), Category.FILES
    FILES_VERSION_RESTORE = (
        "files.version.restore",
        _("restored an earlier version"),
        Category.FILES,
    )
    FILES_VERSION_PURGE = "files.version.purge", _("deleted an old version"), Category.FILES
    FILES_SPACE_HANDOVER = (
        "files.space.handover",
        _("handed over a leaver's files"),
        Category.ADMIN,
        ("leaver", "successor"),
    )
    FILES_VERSION_SCAN = "files.version.scan", _("scanned for malware"), Category.INTEGRITY
    FILES_VERSION_INTEGRITY_FAILURE = (
        "files.version.integrity_failure",
        _("failed an integrity check"),
        Category.INTEGRITY,
    )
    FILES_VERSION_REENCRYPT = (
        "files.version.reencrypt",
        _("re-encrypted a version"),
        Category.INTEGRITY,
    )
    FILES_SCRUB = "files.scrub", _("checked stored files"), Category.INTEGRITY
    FILES_KEYS_ROTATION = "files.keys.rotation", _("rotated the master key"), Category.ADMIN
    FILES_KEYS_REWRAP = "files.keys.rewrap", _("re-wrapped file keys"), Category.ADMIN
    KEYRING_CREATE = "keyring.create", _("created the keyring"), Category.ADMIN
    KEYRING_KEY_REMOVE = (
        "keyring.key.remove",
        _("removed an old key from the keyring"),
        Category.ADMIN,
    )

    # Sharing: colleagues, external links, transfers, file requests.
    SHARING_SHARE_CREATE = (
        "sharing.share.create",
        _("shared with a colleague"),
        Category.SHARING,
        # ``recipient``: the address typed, when no account has it (a refusal).
        ("recipient_user", "recipient"),
    )
    SHARING_SHARE_UPDATE = (
        "sharing.share.update",
        _("changed a share"),
        Category.SHARING,
        ("recipient_user",),
    )
    SHARING_SHARE_DELETE = (
        "sharing.share.delete",
        _("withdrew a share"),
        Category.SHARING,
        ("recipient_user", "recipient"),
    )
    SHARING_LINK_CREATE = (
        "sharing.link.create",
        _("shared by link"),
        Category.SHARING,
        ("recipient",),
    )
    SHARING_LINK_REVOKE = (
        "sharing.link.revoke",
        _("withdrew a link"),
        Category.SHARING,
        # A move's withdrawal names the personal space it left or entered (move_out.py).
        ("owner", "owner_person", "recipient", "recipient_new_address", "from_owner", "to_owner"),
    )
    SHARING_LINK_ACCESS = (
        "sharing.link.access",
        _("opened a link"),
        Category.ACCESS,
        ("recipient",),
    )
    SHARING_LINK_VERIFY = (
        "sharing.link.verify",
        _("checked a link's e-mail code"),
        Category.ACCESS,
        ("recipient",),
    )
    SHARING_LINK_DOWNLOAD = (
        "sharing.link.download",
        _("downloaded by link"),
        Category.ACCESS,
        ("recipient",),
    )
    SHARING_POLICY_UPDATE = (
        "sharing.policy.update",
        _("changed the sharing policy"),
        Category.ADMIN,
    )
    SHARING_EXTERNAL_SUSPEND = (
        "sharing.external.suspend",
        _("suspended every external link and transfer"),
        Category.ADMIN,
    )
    SHARING_EXTERNAL_RESUME = (
        "sharing.external.resume",
        _("ended the suspension of external links and transfers"),
        Category.ADMIN,
    )
    SHARING_TRANSFER_ACCESS = "sharing.transfer.access", _("opened a transfer"), Category.ACCESS
    SHARING_TRANSFER_CREATE = "sharing.transfer.create", _("created a transfer"), Category.SHARING
    SHARING_TRANSFER_SEND = (
        "sharing.transfer.send",
        _("sent a transfer"),
        Category.SHARING,
        ("recipients",),
    )
    SHARING_TRANSFER_REVOKE = (
        "sharing.transfer.revoke",
        _("withdrew a transfer"),
        Category.SHARING,
        # An auditor's grant withdrawing her transfer names her (sharing/services/auditor_grant.py).
        ("recipient", "owner", "owner_person", "from_owner", "to_owner"),
    )
    SHARING_TRANSFER_PURGE = (
        "sharing.transfer.purge",
        _("deleted an expired transfer"),
        Category.SHARING,
    )
    SHARING_REQUEST_ACCESS = (
        "sharing.request.access",
        _("opened a file request"),
        Category.ACCESS,
    )
    SHARING_REQUEST_CREATE = (
        "sharing.request.create",
        _("asked for files"),
        Category.SHARING,
    )
    SHARING_REQUEST_CLOSE = (
        "sharing.request.close",
        _("closed a file request"),
        Category.SHARING,
        ("owner", "owner_person", "from_owner", "to_owner"),
    )
    SHARING_REQUEST_REFUSE = (
        "sharing.request.refuse",
        _("file request refused"),
        Category.ACCESS,
        # A refused upload names its uploader as a received one does.
        ("uploader_name", "uploader_email", "recipient"),
    )
    SHARING_REQUEST_UPLOAD = (
        "sharing.request.upload",
        _("received a file by request"),
        Category.SHARING,
        ("uploader_name", "uploader_email", "recipient"),
    )

    # GDPR duties (privacy app).
    PRIVACY_EXPORT = (
        "privacy.export",
        _("exported someone's personal data"),
        Category.ADMIN,
        ("person",),
    )
    PRIVACY_ERASURE = (
        "privacy.erasure",
        _("erased a leaver's files"),
        Category.ADMIN,
        ("person",),
    )

    # The audit log itself.
    AUDIT_CONSOLE_ACCESS = (
        "audit.console.access",
        _("tried to open the audit console"),
        Category.ACCESS,
    )
    AUDIT_CONSOLE_VIEW = "audit.console.view", _("read the audit log"), Category.ACCESS
    AUDIT_EXPORT = "audit.export", _("exported the audit log"), Category.ACCESS
    AUDIT_EXPORT_SIGN = "audit.export.sign", _("signed an audit export"), Category.ACCESS
    AUDIT_RETENTION_PURGE = (
        "audit.retention.purge",
        _("purged old audit events"),
        Category.INTEGRITY,
    )
    AUDIT_VERIFICATION_REQUEST = (
        "audit.verification.request",
        _("asked for an audit log check"),
        Category.INTEGRITY,
    )
    AUDIT_VERIFICATION_FAILED = (
        "audit.verification.failed",
        _("audit log check failed"),
        Category.INTEGRITY,
    )

    # Separation of duties: roles granted by two people.
    ACCOUNTS_ROLE_PROPOSE = (
        "accounts.role.propose",
        _("proposed a role for someone"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_ROLE_APPROVE = (
        "accounts.role.approve",
        _("approved a proposed role"),
        Category.ADMIN,
    )
    ACCOUNTS_ROLE_DECLINE = (
        "accounts.role.decline",
        _("declined a proposed role"),
        Category.ADMIN,
    )
    ACCOUNTS_ROLE_EXPIRE = (
        "accounts.role.expire",
        _("role proposal lapsed unapproved"),
        Category.ADMIN,
        ("email",),
    )
    ACCOUNTS_ROLE_FIRST_AUDITOR = (
        "accounts.role.first_auditor",
        _("appointed the first auditor"),
        Category.ADMIN,
        ("email",),
    )
    # Four eyes before a key to an account goes to an address someone else changed.
    ACCOUNTS_CREDENTIAL_APPROVAL_REQUEST = (
        "accounts.credential_approval.request",
        _("asked a second administrator to approve a sign-in link"),
        Category.ADMIN,
        ("email", "name", "former_email", "address_changed_by", "token_created_by", "requested_by"),
    )
    ACCOUNTS_CREDENTIAL_APPROVAL_APPROVE = (
        "accounts.credential_approval.approve",
        _("approved a sign-in link asked by another administrator"),
        Category.ADMIN,
        ("email", "name", "former_email", "address_changed_by", "token_created_by", "requested_by"),
    )
    ACCOUNTS_CREDENTIAL_APPROVAL_REFUSE = (
        "accounts.credential_approval.refuse",
        _("refused a sign-in link asked by another administrator"),
        Category.ADMIN,
        ("email", "name", "former_email", "address_changed_by", "token_created_by", "requested_by"),
    )
    ACCOUNTS_CREDENTIAL_APPROVAL_USE = (
        "accounts.credential_approval.use",
        _("sent a sign-in link approved by a second administrator"),
        Category.ADMIN,
        ("email", "name", "approved_by"),
    )
    SHARING_TRANSFER_FILES_ADD = (
        "sharing.transfer.files_add",
        _("added files to a transfer"),
        Category.SHARING,
    )

    ACCOUNTS_MFA_KEYS_REWRAP = (
        "accounts.mfa.keys.rewrap",
        _("re-wrapped authenticator-app secrets under the current key"),
        Category.INTEGRITY,
    )

    # Rate limits.
    RATELIMIT_UNAVAILABLE = (
        "ratelimit.unavailable",
        _("refused: the rate limiter could not count"),
        Category.ACCESS,
    )
    RATELIMIT_API = (
        "ratelimit.api",
        _("refused: too many API requests"),
        Category.ACCESS,
    )
    RATELIMIT_HEALTHZ = (
        "ratelimit.healthz",
        _("refused: too many health probes from one address"),
        Category.ACCESS,
    )
    # A window of refusals by a rate limit, counted (audit/floods.py): the first one
    # was recorded at once by its endpoint, this says how many followed.
    RATELIMIT_FLOOD = (
        "ratelimit.flood",
        _("refused: too many attempts (counted over a window)"),
        Category.ACCESS,
        ("source",),
    )

    # Imaging: DICOM studies (docs/imaging.md).
    IMAGING_VERSION_INDEX = (
        "imaging.version.index",
        _("read the DICOM headers of a file"),
        Category.FILES,
    )
    IMAGING_STUDY_VIEW = "imaging.study.view", _("opened a DICOM study"), Category.ACCESS
    IMAGING_INSTANCE_VIEW = (
        "imaging.instance.view",
        _("viewed a DICOM image"),
        Category.ACCESS,
    )
    IMAGING_STUDY_SEARCH = (
        "imaging.study.search",
        _("searched DICOM studies"),
        Category.ACCESS,
        ("query",),
    )
    IMAGING_STUDY_DEIDENTIFY = (
        "imaging.study.deidentify",
        _("made a de-identified copy of a DICOM study"),
        Category.SHARING,
    )

    # Scanning policy for files too long for one scanner stream (issue #16).
    FILES_SCAN_POLICY_SITE_UPDATE = (
        "files.scan_policy.site.update",
        _("changed the site's scanning policy"),
        Category.ADMIN,
    )
    FILES_SCAN_POLICY_TEAM_UPDATE = (
        "files.scan_policy.team.update",
        _("changed a team's scanning policy"),
        Category.ADMIN,
    )

    # Sign-in with an identity provider (OpenID Connect, sso/).
    SSO_SIGN_IN = (
        "sso.sign_in",
        _("signed in through an identity provider"),
        Category.ACCESS,
        ("email",),
    )
    SSO_TOKEN_REFUSE = (
        "sso.token.refuse",
        _("refused an identity provider's answer"),
        Category.ACCESS,
    )
    SSO_IDENTITY_LINK = (
        "sso.identity.link",
        _("linked an identity-provider account"),
        Category.ACCOUNT,
        ("email",),
    )
    SSO_ACCOUNT_CREATE = (
        "sso.account.create",
        _("account created at first sign-in through an identity provider"),
        Category.ACCOUNT,
        ("email",),
    )
    SSO_BACKCHANNEL_LOGOUT = (
        "sso.backchannel_logout",
        _("signed out by the identity provider"),
        Category.ACCESS,
    )

    # Several files at once in the browser (issue #15).
    FILES_SELECTION_REFUSE = (
        "files.selection.refuse",
        _("refused an action on several items"),
        Category.ACCESS,
    )

    # Previews (docs/previews.md): content shown in the browser, not downloaded.
    FILES_VERSION_VIEW = "files.version.view", _("viewed"), Category.ACCESS
    SHARING_LINK_VIEW = (
        "sharing.link.view",
        _("viewed by link"),
        Category.ACCESS,
        ("recipient",),
    )

    # A download's end: the bytes really sent and whether it completed (files/downloads.py;
    # not "files.version.download…": an expert's prefix filter on downloads keeps only them);
    # the auditor's view shows it on the download's own row.
    FILES_VERSION_SENT = (
        "files.version.sent",
        _("download ended"),
        Category.ACCESS,
    )
    # An investigation report (audit/reports.py): its question, rows and signed exports.
    AUDIT_REPORT = "audit.report", _("generated an investigation report"), Category.ACCESS
    # Ingest from a PACS or a modality: STOW-RS and the C-STORE receiver (issue #16).
    IMAGING_INGEST_STORE = (
        "imaging.ingest.store",
        _("received DICOM instances from a PACS or a modality"),
        Category.FILES,
    )
    IMAGING_INGEST_REFUSE = (
        "imaging.ingest.refuse",
        _("refused a DICOM upload"),
        Category.ACCESS,
    )
    IMAGING_DICOM_ASSOCIATION_ACCEPT = (
        "imaging.dicom_association.accept",
        _("accepted a DICOM connection"),
        Category.ACCESS,
    )
    IMAGING_DICOM_ASSOCIATION_REFUSE = (
        "imaging.dicom_association.refuse",
        _("refused a DICOM connection"),
        Category.ACCESS,
    )

    # Directory provisioning through SCIM 2.0 (directory/, docs/directory-scim.md).
    DIRECTORY_TOKEN_CREATE = (
        "directory.token.create",
        _("created a directory token"),
        Category.ADMIN,
    )
    DIRECTORY_TOKEN_REVOKE = (
        "directory.token.revoke",
        _("revoked a directory token"),
        Category.ADMIN,
    )
    DIRECTORY_TOKEN_USE = "directory.token.use", _("used a directory token"), Category.ACCESS
    DIRECTORY_REQUEST_REFUSE = (
        "directory.request.refuse",
        _("refused a directory request"),
        Category.ACCESS,
        # ``user``: the account the request was about ("Name <address>"); ``detail``:
        # the refusal's text, which may quote what the directory sent about them.
        ("user", "detail"),
    )
    DIRECTORY_USER_CREATE = (
        "directory.user.create",
        _("created an account from the directory"),
        Category.ADMIN,
        ("email", "user_name"),
    )
    DIRECTORY_USER_UPDATE = (
        "directory.user.update",
        _("updated an account from the directory"),
        Category.ADMIN,
        ("email", "changes", "token_created_by"),
    )
    DIRECTORY_USER_DELETE = (
        "directory.user.delete",
        _("removed an account from the directory"),
        Category.ADMIN,
        ("email",),
    )
    # A POST naming an account the directory had deleted: the same account comes back
    # (directory/scim/users.py, user_restore), then the admin's reactivation.
    DIRECTORY_USER_RESTORE = (
        "directory.user.restore",
        _("brought back an account the directory had removed"),
        Category.ADMIN,
        ("email", "user_name"),
    )
    DIRECTORY_GROUP_CREATE = (
        "directory.group.create",
        _("created a team from the directory"),
        Category.ADMIN,
    )
    DIRECTORY_GROUP_UPDATE = (
        "directory.group.update",
        _("updated a team from the directory"),
        Category.ADMIN,
        ("added", "removed"),
    )
    DIRECTORY_GROUP_DELETE = (
        "directory.group.delete",
        _("removed a team from the directory"),
        Category.ADMIN,
    )

    # Access reviews by team managers (reviews/, docs/access-reviews.md).
    REVIEWS_REVIEW_OPEN = "reviews.review.open", _("opened an access review"), Category.ADMIN
    # The member (``person``), a share's or link's ``recipient`` (a name, a team, an
    # e-mail address), a link's ``creator``; ``item``: the label of older events.
    REVIEWS_ITEM_DECIDE = (
        "reviews.item.decide",
        _("decided an access review item"),
        Category.ADMIN,
        ("person", "recipient", "creator", "item"),
    )
    REVIEWS_REVIEW_ESCALATE = (
        "reviews.review.escalate",
        _("escalated an unfinished access review"),
        Category.ADMIN,
    )
    REVIEWS_REVIEW_EXPORT = (
        "reviews.review.export",
        _("exported an access review"),
        Category.ACCESS,
    )
    FILES_VERSION_CONTENT_LINK = (
        "files.version.content_link",
        _("linked a copy to its original's content"),
        Category.INTEGRITY,
    )
    ACCOUNTS_SESSION_REFUSE = (
        "accounts.session.refuse",
        _("request of a deactivated person's browser refused"),
        Category.ACCESS,
    )
    REQUEST_QUERY_REFUSE = (
        "request.query.refuse",
        _("refused an address with a character that cannot be used"),
        Category.ACCESS,
    )
    ACCOUNTS_SESSION_ENDED_REFUSE = (
        "accounts.session.ended_refuse",
        _("request of a browser whose session was ended refused"),
        Category.ACCESS,
    )
    # Recent authentication ("sudo mode", accounts/reauth.py): a second factor proved
    # again before a sensitive action; refusals count towards the failure limits.
    ACCOUNTS_REAUTH = (
        "accounts.reauth",
        _("confirmed their second factor again for a sensitive action"),
        Category.ACCESS,
    )
    # The password typed again before a first second factor, when the sign-in is older
    # than the window (accounts/views/mfa.py: enrol_confirm).
    ACCOUNTS_REAUTH_PASSWORD = (
        "accounts.reauth.password",
        _("typed their password again before adding a first second factor"),
        Category.ACCESS,
    )
    SSO_INVITATION_LINK_REQUIRED = (
        "sso.invitation.link_required",
        _("refused to claim an invitation without its link through an identity provider"),
        Category.ACCESS,
        ("email",),
    )
    # Any answer refusing what was sent that its view did not audit itself
    # (audit/refusals.py): the message shown, which may name a person, a file or a folder.
    REQUEST_INPUT_REFUSE = (
        "request.input.refuse",
        _("refused what was sent (a form, a body or an address)"),
        Category.ACCESS,
        ("message",),
    )
    # A form or session API call refused by the check against forged cross-site
    # requests (audit/refusals.py): an expired form, or another site acting in the
    # signed-in person's name. The details keep the Origin/Referer host, never a path.
    REQUEST_CSRF_REFUSE = (
        "request.csrf.refuse",
        _("refused a form that had expired or was sent from another site"),
        Category.ACCESS,
    )

    # Linking an existing account to the identity provider from a link an administrator
    # sent to the person's address (sso/account_link.py).
    SSO_ACCOUNT_LINK_SEND = (
        "sso.account_link.send",
        _("sent a link to the identity provider to an existing account"),
        Category.ADMIN,
        ("email", "name", "former_email", "address_changed_by", "token_created_by"),
    )
    SSO_ACCOUNT_LINK_REFUSE = (
        "sso.account_link.refuse",
        _("refused a link to the identity provider"),
        Category.ACCESS,
        ("email",),
    )
    # A directory group write that named a deactivated person, an auditor or the
    # token's own creator: not made a member (directory/scim/groups.py).
    DIRECTORY_GROUP_MEMBER_SKIP = (
        "directory.group.member_skip",
        _("did not add someone to a team from the directory"),
        Category.ADMIN,
        ("email",),
    )


_BY_CODE: dict[str, Action] = {member.value: member for member in Action}

# The actions whose ``bytes`` (and ``completed``) say how much of a file's content left
# the server: the console's "Sent" column and the exports' ``bytes_sent`` read them for
# these only (a transfer's ``bytes`` is the size it offers, not what was received).
CONTENT_SENT: frozenset[Action] = frozenset(
    {
        Action.FILES_VERSION_DOWNLOAD,
        Action.FILES_VERSION_SENT,
        Action.FILES_VERSION_VIEW,
        Action.SHARING_LINK_DOWNLOAD,
        Action.SHARING_LINK_VIEW,
    }
)


def action_catalogued(code: str) -> Action | None:
    """The catalogue entry of a stored code, or None for a code it does not know."""
    return _BY_CODE.get(code)


def action_label(code: str) -> str:
    """What the console shows for a stored code: its label, or the code itself."""
    action = action_catalogued(code)
    return str(action.label) if action is not None else code
