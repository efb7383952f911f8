"""Every URL of SecureDrive, and how the access matrix reaches it.

tests/test_url_access.py walks the whole URLconf (``securedrive.urls``) and fails on
any URL name that is neither ``COVERED`` (tried by the role x object matrix, parametrised
from this registry) nor ``PUBLIC`` (an explicit, commented allow-list). Adding a URL
means deciding here who may reach it.

``COVERED[name]`` is the set of people the page or endpoint is *for*; the matrix tries
Alice (a clinician who owns every object in the URL's parameters), Oscar (outsider),
Sam (site administrator), Audrey (auditor) and an anonymous visitor: those not in the
set must get 401/403/404/405 on GET and on POST, never a page or a change; those in it
must not be refused. The detailed stories live in the modules named in the comments.
"""

from __future__ import annotations

OWNER = "owner"
OUTSIDER = "outsider"
SITE_ADMIN = "site_admin"
AUDITOR = "auditor"
EVERYONE_SIGNED_IN = frozenset({OWNER, OUTSIDER, SITE_ADMIN, AUDITOR})
ALICE_ONLY = frozenset({OWNER})
ADMINS = frozenset({SITE_ADMIN})
AUDITORS = frozenset({AUDITOR})

COVERED: dict[str, frozenset[str]] = {
    # --- Alice's objects (tests/test_files_access.py, tests/test_sharing_access.py,
    # tests/test_sharing_rights.py): nobody else, no role, reaches them.
    **{
        name: ALICE_ONLY
        for name in [
            "files:team",  # Alice's team space: its members only
            "files:folder",
            "files:folder_upload",
            "files:folder_create",
            "files:folder_rename",
            "files:folder_move",
            "files:folder_delete",
            "files:folder_restore",
            "files:folder_purge",
            "files:trash",
            "files:file",
            "files:download",
            "files:scan_badge",
            "files:file_upload",
            "files:file_rename",
            "files:file_move",
            "files:file_copy",
            "files:file_delete",
            "files:file_restore",
            "files:file_purge",
            "files:file_favourite",
            "files:folder_favourite",
            "files:version_download",
            "files:version_restore",
            # Previews and thumbnails: teammates and links in tests/test_previews.py.
            "files:preview",
            "files:preview_rendition",
            "files:preview_stream",
            "files:thumbnail",
            "files_api:trash",
            "files_api:folder",
            "files_api:folder_create",
            "files_api:folder_upload",
            "files_api:folder_restore",
            "files_api:folder_purge",
            "files_api:file",
            "files_api:file_copy",
            "files_api:file_restore",
            "files_api:file_purge",
            "files_api:file_content",
            "files_api:versions",
            "files_api:version_content",
            "files_api:version_restore",
            "tus:upload",  # per-upload owner checks: tests/test_tus.py
            "sharing:file_sharing",
            "sharing:folder_sharing",
            "sharing:share_role",
            "sharing:share_remove",
            "sharing:link_revoke",
            "sharing:file_links",
            "sharing:folder_links",
            "sharing:transfer",
            "sharing:transfer_files_add",
            "sharing:transfer_send",
            "sharing:transfer_revoke",
            "sharing:transfer_recipient_revoke",
            "sharing:transfer_delete",
            "sharing:request",
            "sharing:request_close",
            "sharing_api:share",
            "sharing_api:link_revoke",
            "sharing_api:file_links",
            "sharing_api:folder_links",
            "sharing_api:transfer",
            "sharing_api:transfer_files",
            "sharing_api:transfer_send",
            "sharing_api:transfer_revoke",
            "sharing_api:request",
            "sharing_api:request_close",
            "accounts:mfa_device_rename",
            "accounts:mfa_device_remove",
            "accounts:token_revoke",
            "accounts:session_revoke",
            "api:token",
        ]
    },
    # Alice manages her own team; site administrators manage every team's members
    # (account data, never the team's files). tests/test_accounts_admin.py.
    "accounts:team": frozenset({OWNER, SITE_ADMIN}),
    # Access reviews (tests/test_access_reviews.py): everyone has a list (their own
    # teams'); a review is its team's managers' (Alice) and the administrators' to
    # decide; auditors read every review and its export, never decide
    # (tests/test_reviews_auditor.py).
    "reviews:reviews": EVERYONE_SIGNED_IN,
    "reviews:review": frozenset({OWNER, SITE_ADMIN, AUDITOR}),
    "reviews:item_decide": frozenset({OWNER, SITE_ADMIN}),
    "reviews:review_export": frozenset({OWNER, SITE_ADMIN, AUDITOR}),
    "accounts:team_member_remove": frozenset({OWNER, SITE_ADMIN}),
    # --- Administration (tests/test_accounts_admin.py, tests/test_privacy.py).
    # The platform's components (database, queue, scanner): site administrators only,
    # on their home page (tests/test_files_list.py); monitoring uses /healthz.
    "platform_status": ADMINS,
    **{
        name: ADMINS
        for name in [
            "accounts:admin_users",
            "accounts:admin_user",
            "accounts:admin_user_deactivate",
            "accounts:admin_user_departure_cancel",
            "accounts:admin_user_reactivate",
            "accounts:admin_user_setup_link_send",
            # Four eyes on a key to an account (tests/test_credential_four_eyes.py).
            "accounts:admin_user_credential_approval_request",
            "accounts:admin_credential_approvals",
            "accounts:admin_credential_approval_decide",
            "sso:account_link_send",
            "accounts:admin_offboarding_report",
            "directory:tokens",
            "directory:token_revoke",
            "accounts:admin_invitations",
            "accounts:admin_invitation_revoke",
            "accounts:admin_policy",
            "accounts:admin_access_review",
            "sharing:policy",
            "sharing:external_suspension",  # tests/test_sharing_suspension.py
            "files:scan_policy",  # tests/test_scanning_large.py
            "privacy:people",
            "privacy:person",
            "privacy:person_export",
            "privacy:person_erase",
        ]
    },
    # Four eyes: a second administrator or an auditor (tests/test_accounts_separation.py).
    "accounts:admin_role_proposals": frozenset({SITE_ADMIN, AUDITOR}),
    "accounts:admin_role_proposal_decide": frozenset({SITE_ADMIN, AUDITOR}),
    # --- The audit console (tests/test_audit_console.py): auditors only.
    **{
        name: AUDITORS
        for name in [
            # The auditor's questions (tests/test_audit_questions.py).
            "audit:home",
            "audit:question_file",
            "audit:question_access",
            "audit:question_person",
            "audit:question_outside",
            "audit:question_failures",
            "audit:report",
            # "Verify now" (tests/test_audit_integrity.py).
            "audit:integrity_verify",
            "audit:events",
            "audit:event",
            "audit:inclusion_proof",
            "audit:target",
            "audit:actor",
            "audit:export_signature",
            "audit:export",
            "audit:integrity",
            "audit:alerts",
            "audit:checkpoint",
            "audit:consistency_proof",
            "audit:public_key",
        ]
    },
    # --- One's own things, no object id: every signed-in person gets their own (the
    # listings are scoped by the selectors; tests/test_files_access.py
    # test_lists_show_nothing_of_other_people and tests/test_sharing_access.py).
    **{
        name: EVERYONE_SIGNED_IN
        for name in [
            "home",
            "files:home",
            # A selection of ids in the POST body, each item checked by its selector;
            # without items it is a 400 for everyone (tests/test_files_selection.py).
            "files:selection_trash",
            "files:selection_restore",
            "files:selection_purge",
            "files:selection_move",
            "files:selection_copy",
            "sharing:selection_download",
            "sharing:selection_share",
            "files:search",  # results scoped by the selectors: tests/test_files_search.py
            "imaging:studies",  # scoped the same way: tests/test_imaging_pages.py
            # STOW-RS without a folder: a 400 for everyone (tests/test_imaging_ingest.py).
            "imaging_api:stow",
            "imaging_api:stow_study",
            "accounts:security",
            "accounts:mfa_recovery_codes_regenerate",
            "accounts:reauth",  # recent authentication: tests/test_reauth.py
            "accounts:tokens",
            "accounts:sessions",
            "accounts:sign_out_everywhere",
            "accounts:teams",
            "api:me",
            "api:tokens",
            "files_api:spaces",
            "files_api:search",
            "tus:uploads",
            "sharing:shared_with_me",
            "sharing:my_links",
            "sharing:transfers",
            "sharing:transfer_new",
            "sharing:requests",
            "sharing:request_new",
            "sharing_api:shares",
            "sharing_api:shared_with_me",
            "sharing_api:links",
            "sharing_api:transfers",
            "sharing_api:requests",
            "privacy:my_data",
            "privacy:my_data_export",
            # Alice's DICOM study and its images (tests/test_imaging_pages.py).
            "imaging:study",
            "imaging:study_share",  # de-identified sharing: tests/test_imaging_deidentify.py
            "imaging:deidentify_job",  # its progress, the sender's only
            "imaging:instance",
            # STOW-RS into Alice's folder (tests/test_imaging_ingest.py).
            "imaging_api:folder_stow",
            "imaging_api:folder_stow_study",
        ]
    },
}

# Reachable without signing in, on purpose. Each has its own tests.
PUBLIC: dict[str, str] = {
    "accounts:login": "the sign-in form",
    "accounts:logout": "signing out",
    "accounts:setup": "the first administrator's one-time link (token in the URL)",
    "accounts:invitation_accept": "an invitation link (token in the URL, rate limited)",
    # The second factor: signed in with a password only (MFA_EXEMPT_VIEWS).
    "accounts:mfa_verify": "second-factor step",
    "accounts:mfa_verify_recovery": "second-factor step (recovery code)",
    "accounts:mfa_enrol": "second-factor enrolment",
    "accounts:mfa_enrol_confirm": "password again before a first second factor",
    "accounts:mfa_totp_add": "second-factor enrolment",
    "accounts:mfa_passkey_add": "second-factor enrolment",
    "accounts:mfa_passkey_added": "second-factor enrolment",
    "otp_webauthn:credential-registration-begin": "passkey ceremony (django-otp-webauthn)",
    "otp_webauthn:credential-registration-complete": "passkey ceremony",
    "otp_webauthn:credential-authentication-begin": "passkey ceremony",
    "otp_webauthn:credential-authentication-complete": "passkey ceremony",
    "otp_webauthn:js-i18n-catalog": "passkey script's messages",
    "api:schema": "the OpenAPI document (no data)",
    # Capabilities: the token in the URL is the credential (tests/test_sharing_links.py,
    # tests/test_sharing_requests.py, tests/test_sharing_rights.py).
    "share_link:open": "external link",
    "share_link:file": "external link, one file",
    "share_link:archive": "external link, ZIP",
    # Previews through a link: the same gate as its downloads (tests/test_previews.py).
    "share_link:preview": "external link, one file's preview page",
    "share_link:preview_rendition": "external link, an image preview",
    "share_link:preview_stream": "external link, a PDF, video or audio preview",
    "file_request:open": "file request page",
    "file_request:uploads": "file request tus endpoint",
    "file_request:upload": "file request tus endpoint",
    # Sign-in with an identity provider (tests/test_sso_oidc.py, tests/test_sso_logout.py):
    # reached before anyone is signed in; the provider's signed answer is the credential.
    "sso:sign_in": "start of a sign-in at an identity provider",
    "sso:invitation_sign_in": "an invited person accepts with a provider (token in the body)",
    "sso:callback": "the identity provider's answer (state, nonce, signed ID token)",
    "sso:account_link": "a link an administrator sent to link an account (token in the path)",
    "sso:account_link_sign_in": "a person follows their account link (token in the body)",
    "sso:reauth": "confirming it is you at one's own provider (signed in; test_sso_reauth.py)",
    "sso:sign_in_again": "start of a sign-in forcing the provider's second factor again",
    "sso:link_confirm": "an invited person confirms the link (pending in their session)",
    "sso:backchannel_logout": "the identity provider's signed logout token (server to server)",
    "set_language": "language switch",
    "healthz": "health check for the load balancer (no data)",
    # SCIM 2.0: the directory's bearer token is the credential, not a session; every
    # endpoint answers 401 without one (tests/test_directory_scim.py).
    **{
        f"scim:{name}": "SCIM endpoint for the directory (bearer directory token)"
        for name in [
            "service_provider_config",
            "resource_types",
            "resource_type",
            "schemas",
            "schema",
            "search",
            "user_search",
            "group_search",
            "users",
            "user",
            "groups",
            "group",
            "unknown",
        ]
    },
}
