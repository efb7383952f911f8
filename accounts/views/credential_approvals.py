"""Four eyes before a key to an account goes to an address someone else changed
(accounts/credential_approvals.py): the page that says a second administrator must
approve, the request, and the approvals page where a second administrator decides."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import credential_approvals as approvals
from accounts import reauth
from accounts.errors import AccountRuleError
from accounts.forms_admin import CredentialDecisionForm
from accounts.models import CredentialKind, User
from accounts.permissions import signed_in_user, site_admin_required
from audit import refusals
from core.confirm import confirmation_page, confirmed


def approval_needed_page(
    request: HttpRequest, subject: User, error: approvals.ApprovalNeeded
) -> HttpResponse:
    """409: the key did not go out; why, and (when another administrator exists) the
    button that asks one. The service recorded the refusal."""
    return render(
        request,
        "accounts/admin/credential_approval_needed.html",
        {
            "subject": subject,
            "message": str(error),
            "status": error.status_code,
            "kind": error.kind,
            "provider": error.provider,
            "approver_exists": error.approver_exists,
            "back": reverse("accounts:admin_user", args=[subject.pk]),
        },
        status=error.status_code,
    )


@site_admin_required
@require_POST
# Asking is harmless alone, but it is the first half of a key to someone's account.
@reauth.recent_proof_required()
def approval_request(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    back = reverse("accounts:admin_user", args=[subject.pk])
    kind = request.POST.get("kind", "")
    provider = request.POST.get("provider", "")[:64]
    if kind not in CredentialKind.values:
        error = AccountRuleError(_("Choose the link to ask about."))
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
        return redirect(back)
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Ask a second administrator to approve a link for %(name)s?")
            % {"name": subject.get_full_name()},
            losses=[
                _(
                    "Another site administrator reads who changed the address of %(name)s "
                    "and approves or refuses; you may then send %(kind)s to %(email)s once, "
                    "within 24 hours."
                )
                % {
                    "name": subject.get_full_name(),
                    "kind": CredentialKind(kind).label,
                    "email": subject.email,
                },
            ],
            button=_("Ask for approval"),
            cancel_url=back,
            reversible=True,
        )
    try:
        approvals.approval_request(
            actor=signed_in_user(request), user=subject, kind=kind, provider=provider
        )
    except AccountRuleError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _(
                "Request sent: another site administrator must approve it on the Link "
                "approvals page; then send the link again from here."
            ),
        )
    return redirect(back)


@site_admin_required
def approval_list(request: HttpRequest) -> HttpResponse:
    """Requests awaiting a second administrator, with who changed each address."""
    actor = signed_in_user(request)
    rows = [
        {
            "approval": approval,
            "form": CredentialDecisionForm(prefix=f"c{approval.pk}"),
            "may_decide": actor.pk not in (approval.requested_by_id, approval.subject_id),
            "changed_by": approvals.address_changed_by_words(approval.subject),
            # Said before the approver decides: the asker created the token that moved it.
            "asker_made_the_token": approval.requested_by_id is not None
            and approval.requested_by_id == approval.subject.email_changed_token_creator_id,
        }
        for approval in approvals.approvals_pending()
    ]
    return render(request, "accounts/admin/credential_approvals.html", {"rows": rows})


@site_admin_required
@require_POST
@reauth.recent_proof_required()  # approving lets a key to someone's account go out
def approval_decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    form = CredentialDecisionForm(request.POST, prefix=f"c{approval_id}")
    if approve and not form.is_valid():
        messages.error(request, _("Tick the confirmation box to approve."))
        return redirect("accounts:admin_credential_approvals")
    try:
        approval = approvals.approval_decide(
            actor=signed_in_user(request), approval_id=approval_id, approve=approve
        )
    except AccountRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
        return redirect("accounts:admin_credential_approvals")
    if approval.approved:
        messages.success(
            request,
            _("Approved: the administrator who asked may send the link once, within 24 hours."),
        )
    else:
        messages.success(request, _("Refused: no link goes out."))
    return redirect("accounts:admin_credential_approvals")
