from django.urls import path

from accounts.views import (
    admin,
    auth,
    credential_approvals,
    invitation,
    mfa,
    reauth,
    sessions,
    tokens,
)

app_name = "accounts"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("setup/<uidb64>/<token>/", auth.SetupView.as_view(), name="setup"),
    # Two-step verification (accounts/mfa.py); see MFA_EXEMPT_VIEWS in middleware.py.
    path("mfa/verify/", mfa.verify, name="mfa_verify"),
    path("mfa/verify/recovery-code/", mfa.verify_recovery, name="mfa_verify_recovery"),
    path("mfa/setup/", mfa.enrol, name="mfa_enrol"),
    path("mfa/setup/confirm/", mfa.enrol_confirm, name="mfa_enrol_confirm"),
    path("mfa/setup/authenticator-app/", mfa.totp_add, name="mfa_totp_add"),
    path("mfa/setup/passkey/", mfa.passkey_add, name="mfa_passkey_add"),
    path("mfa/setup/passkey/added/", mfa.passkey_added, name="mfa_passkey_added"),
    path("security/", mfa.security, name="security"),
    # Recent authentication before a sensitive action (accounts/reauth.py).
    path("security/confirm/", reauth.confirm, name="reauth"),
    path("security/<str:kind>/<int:pk>/rename/", mfa.device_rename, name="mfa_device_rename"),
    path("security/<str:kind>/<int:pk>/remove/", mfa.device_remove, name="mfa_device_remove"),
    path(
        "security/recovery-codes/",
        mfa.recovery_codes_regenerate,
        name="mfa_recovery_codes_regenerate",
    ),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("invitation/<str:token>/", invitation.invitation_accept, name="invitation_accept"),
    path("sessions/", sessions.session_list, name="sessions"),
    path("sessions/<int:session_id>/revoke/", sessions.session_revoke, name="session_revoke"),
    path("sessions/sign-out-everywhere/", sessions.sign_out_everywhere, name="sign_out_everywhere"),
    path("teams/", admin.team_list, name="teams"),
    path("teams/<slug:slug>/", admin.team_detail, name="team"),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/remove/",
        admin.team_member_remove,
        name="team_member_remove",
    ),
    path("admin/users/", admin.user_list, name="admin_users"),
    path("admin/users/<int:user_id>/", admin.user_detail, name="admin_user"),
    path(
        "admin/users/<int:user_id>/deactivate/", admin.user_deactivate, name="admin_user_deactivate"
    ),
    path(
        "admin/users/<int:user_id>/offboarding/<int:report_id>/",
        admin.offboarding_report,
        name="admin_offboarding_report",
    ),
    path(
        "admin/users/<int:user_id>/departure/cancel/",
        admin.user_departure_cancel,
        name="admin_user_departure_cancel",
    ),
    path(
        "admin/users/<int:user_id>/reactivate/", admin.user_reactivate, name="admin_user_reactivate"
    ),
    path(
        "admin/users/<int:user_id>/setup-link/",
        admin.user_setup_link_send,
        name="admin_user_setup_link_send",
    ),
    path(
        "admin/users/<int:user_id>/credential-approval/",
        credential_approvals.approval_request,
        name="admin_user_credential_approval_request",
    ),
    path(
        "admin/credential-approvals/",
        credential_approvals.approval_list,
        name="admin_credential_approvals",
    ),
    path(
        "admin/credential-approvals/<int:approval_id>/decide/",
        credential_approvals.approval_decide,
        name="admin_credential_approval_decide",
    ),
    path("admin/invitations/", admin.invitation_list, name="admin_invitations"),
    path(
        "admin/invitations/<int:invitation_id>/revoke/",
        admin.invitation_revoke,
        name="admin_invitation_revoke",
    ),
    path("admin/role-approvals/", admin.role_proposals, name="admin_role_proposals"),
    path(
        "admin/role-approvals/<int:proposal_id>/decide/",
        admin.role_proposal_decide,
        name="admin_role_proposal_decide",
    ),
    path("admin/policy/", admin.policy, name="admin_policy"),
    path("admin/access-review/", admin.access_review, name="admin_access_review"),
]
