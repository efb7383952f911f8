"""Administration: people, roles, teams, invitations, offboarding, policy, access review.

Site administrators manage accounts but never see file content; these pages show
account data only. Team managers manage their own team's members.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import (
    credential_approvals,
    invitations,
    offboarding,
    reauth,
    roles,
    selectors,
    services,
)
from accounts.errors import AccountRuleError
from accounts.forms_admin import (
    DeactivationForm,
    InvitationForm,
    PolicyForm,
    RoleDecisionForm,
    RolesForm,
    TeamForm,
    TeamMemberForm,
)
from accounts.models import (
    AccountPolicy,
    GrantedRole,
    Invitation,
    OffboardingReport,
    RoleProposal,
    TeamMembership,
    User,
)
from accounts.offboarding_report import plan_in_words
from accounts.permissions import role_approver_required, signed_in_user, site_admin_required
from accounts.team_leave_preview import (
    LIST_CHANGED_MESSAGE,
    PREVIEW_DIGEST_FIELD,
    team_leave_preview,
)
from accounts.views.credential_approvals import approval_needed_page
from audit import refusals
from audit.actions import Action
from audit.readable import readable_events
from audit.selectors import team_departures
from core.bounded import bounded
from core.confirm import confirmation_page, confirmed


@site_admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    users = selectors.users_with_mfa_flag().order_by("email")
    if query:
        users = users.filter(email__icontains=query) | users.filter(full_name__icontains=query)
    context = {
        "users": users,
        "query": query,
        # Conflicts older than the rule (accounts.roles): flagged, never removed silently.
        "auditor_conflicts": roles.auditors_with_content_access(),
    }
    return render(request, "accounts/admin/user_list.html", context)


@site_admin_required
@reauth.recent_proof_required(methods={"POST"})  # giving and withdrawing roles
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    actor = signed_in_user(request)
    roles_form = RolesForm(
        request.POST if request.method == "POST" else None,
        initial={"is_site_admin": subject.is_site_admin, "is_auditor": subject.is_auditor},
    )
    if request.method == "POST" and roles_form.is_valid():
        withdrawn = [
            str(role.label)
            for role, held, kept in (
                (GrantedRole.SITE_ADMIN, subject.is_site_admin, "is_site_admin"),
                (GrantedRole.AUDITOR, subject.is_auditor, "is_auditor"),
            )
            if held and not roles_form.cleaned_data[kept]
        ]
        if withdrawn and not confirmed(request):
            # Giving a role back takes a proposal and a second person: ask first, naming
            # the role lost (an administrator may untick a box she did not mean to).
            name = subject.get_full_name()
            return confirmation_page(
                request,
                title=_("Withdraw this role?"),
                losses=[
                    *(
                        _("%(name)s loses the %(role)s role at once.")
                        % {"name": name, "role": role}
                        for role in withdrawn
                    ),
                    _("%(name)s is signed out everywhere.") % {"name": name},
                    _("Giving it back takes a proposal approved by a second person."),
                ],
                button=_("Withdraw the role"),
                cancel_url=reverse("accounts:admin_user", args=[subject.pk]),
            )
        try:
            proposals = services.user_roles_set(
                actor=actor,
                user=subject,
                is_site_admin=roles_form.cleaned_data["is_site_admin"],
                is_auditor=roles_form.cleaned_data["is_auditor"],
            )
        except AccountRuleError as error:
            refusals.rule_refusal_record(request, error)
            messages.error(request, str(error))
        else:
            if proposals:
                messages.success(
                    request,
                    _(
                        "Role proposed: another administrator or an auditor must approve it "
                        "on the Role approvals page."
                    ),
                )
            else:
                messages.success(
                    request, _("Roles of %(name)s saved.") % {"name": subject.get_full_name()}
                )
        return redirect("accounts:admin_user", user_id=subject.pk)
    # No set-up link for someone who signs in through the provider: a password here
    # would be a way around it (docs/accounts.md, Reactivation).
    provider_only = services.signs_in_through_provider_only(subject)
    context = {
        "subject": subject,
        "is_self": subject.pk == actor.pk,
        "pending_roles": [
            proposal
            for proposal in roles.role_proposals_pending()
            if proposal.subject_id == subject.pk
        ],
        "roles_form": roles_form,
        "deactivation_form": DeactivationForm(subject=subject),
        "memberships": subject.memberships.select_related("team"),
        "auditor_content_access": (
            roles.auditor_content_access(subject)
            if subject.is_auditor and subject.is_active
            else []
        ),
        "open_sessions": selectors.user_sessions_open(subject),
        "has_mfa": selectors.user_has_mfa(subject),
        "offboarding_reports": subject.offboarding_reports.all(),
        "setup_link_until": services.setup_link_pending_until(subject),
        # Four eyes on the keys to the account (accounts/credential_approvals.py).
        "approval_needed_until": credential_approvals.approval_needed_until(subject),
        "address_changed_by": credential_approvals.address_changed_by_words(subject),
        "credential_approvals": credential_approvals.approvals_of(subject),
        "provider_sign_in_only": provider_only,
        "setup_link_may_send": subject.is_active
        and not subject.has_usable_password()
        and not provider_only,
    }
    return render(request, "accounts/admin/user_detail.html", context)


@site_admin_required
@require_POST
@reauth.recent_proof_required()
def user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    form = DeactivationForm(request.POST, subject=subject)
    if not form.is_valid():
        messages.error(request, _("Check the deactivation form."))
        return render(
            request,
            "accounts/admin/user_detail.html",
            {
                "subject": subject,
                "roles_form": RolesForm(initial={"is_site_admin": subject.is_site_admin}),
                "deactivation_form": form,
                "memberships": subject.memberships.select_related("team"),
                "auditor_content_access": (
                    roles.auditor_content_access(subject)
                    if subject.is_auditor and subject.is_active
                    else []
                ),
                "open_sessions": selectors.user_sessions_open(subject),
                "has_mfa": selectors.user_has_mfa(subject),
            },
            status=400,
        )
    successor = form.cleaned_data["successor"]
    actor = signed_in_user(request)
    try:
        if form.cleaned_data["when"] == DeactivationForm.WHEN_LATER and not confirmed(request):
            return _departure_preview(
                request,
                subject=subject,
                successor=successor,
                departure_on=form.cleaned_data["departure_on"],
            )
        if form.cleaned_data["when"] == DeactivationForm.WHEN_LATER:
            offboarding.user_departure_schedule(
                actor=actor,
                user=subject,
                departure_on=form.cleaned_data["departure_on"],
                successor=successor,
            )
            messages.success(
                request,
                _("Departure of %(name)s scheduled for %(date)s.")
                % {
                    "name": subject.get_full_name(),
                    "date": formats.date_format(form.cleaned_data["departure_on"]),
                },
            )
        elif not confirmed(request):
            return _deactivation_preview(request, subject=subject, successor=successor)
        else:
            summary = offboarding.user_deactivate(
                actor=actor,
                user=subject,
                successor=successor,
                expected_digest=request.POST.get("plan_digest") or None,
            )
            if "report" in summary:
                messages.success(
                    request,
                    _("Account of %(name)s deactivated.") % {"name": subject.get_full_name()},
                )
                return redirect(
                    "accounts:admin_offboarding_report",
                    user_id=subject.pk,
                    report_id=summary["report"],
                )
            # Another administrator (or the directory) was quicker: say so, rather
            # than come back to the page as if the button had done nothing.
            messages.info(
                request,
                _("%(name)s was already deactivated: nothing more was done.")
                % {"name": subject.get_full_name()},
            )
    except offboarding.OffboardingPlanChanged as error:
        messages.warning(request, str(error))
        return _deactivation_preview(request, subject=subject, successor=successor)
    except AccountRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
    return redirect("accounts:admin_user", user_id=subject.pk)


def _deactivation_preview(
    request: HttpRequest, *, subject: User, successor: User | None
) -> HttpResponse:
    """The confirmation page shows the plan itself, and posts its digest along: if the
    plan differs when the admin confirms, nothing is done and the new one is shown."""
    plan = offboarding.offboarding_plan(user=subject, successor=successor)
    return confirmation_page(
        request,
        title=_("Deactivate %(name)s now?") % {"name": subject.get_full_name()},
        losses=[],
        details_template="accounts/admin/_offboarding_preview.html",
        details={"lines": plan_in_words(plan.as_json(), done=False)},
        extra_fields={"plan_digest": plan.digest()},
        button=_("Deactivate"),
        cancel_url=reverse("accounts:admin_user", args=[subject.pk]),
    )


def _departure_preview(
    request: HttpRequest, *, subject: User, successor: User | None, departure_on: dt.date
) -> HttpResponse:
    """Before a departure date is set: when access ends exactly (midnight, site time),
    and the plan as it stands today (what the recipients of links and transfers will be
    told), since nobody confirms anything on the day itself."""
    plan = offboarding.offboarding_plan(user=subject, successor=successor)
    return confirmation_page(
        request,
        title=_("Schedule the departure of %(name)s?") % {"name": subject.get_full_name()},
        losses=[],
        details_template="accounts/admin/_departure_preview.html",
        details={
            "lines": plan_in_words(plan.as_json(), done=False),
            "cut_at": _("%(date)s at 00:00 (%(zone)s)")
            % {"date": formats.date_format(departure_on), "zone": settings.TIME_ZONE},
        },
        button=_("Schedule the departure"),
        cancel_url=reverse("accounts:admin_user", args=[subject.pk]),
    )


@site_admin_required
def offboarding_report(request: HttpRequest, user_id: int, report_id: int) -> HttpResponse:
    report = get_object_or_404(OffboardingReport, pk=report_id, user_id=user_id)
    context = {"report": report, "lines": plan_in_words(report.plan, done=True)}
    return render(request, "accounts/admin/offboarding_report.html", context)


@site_admin_required
@require_POST
@reauth.recent_proof_required()  # keeps an account open that was to close
def user_departure_cancel(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    offboarding.user_departure_cancel(actor=signed_in_user(request), user=subject)
    messages.success(
        request,
        _("Departure of %(name)s cancelled: the account stays open.")
        % {"name": subject.get_full_name()},
    )
    return redirect("accounts:admin_user", user_id=subject.pk)


def _setup_link_refused(
    request: HttpRequest, subject: User, error: AccountRuleError
) -> HttpResponse:
    """A set-up link asked for someone it makes no sense for: a page saying why, with the
    rule's status (the service recorded the refusal)."""
    return render(
        request,
        "accounts/admin/setup_link_refused.html",
        {
            "message": str(error),
            "status": error.status_code,
            "back": reverse("accounts:admin_user", args=[subject.pk]),
        },
        status=error.status_code,
    )


@site_admin_required
@require_POST
@reauth.recent_proof_required()
def user_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id, is_active=False)
    send_link = request.POST.get("send_setup_link") == "yes"
    if send_link:
        try:
            services.setup_link_provider_only_check(actor=signed_in_user(request), user=subject)
        except AccountRuleError as error:
            return _setup_link_refused(request, subject, error)
        try:
            # Before anything changes: the link would go to an address someone else set.
            credential_approvals.credential_gate_check(
                action=Action.ACCOUNTS_SETUP_LINK_SEND,
                actor=signed_in_user(request),
                user=subject,
                kind=credential_approvals.CredentialKind.SETUP_LINK,
            )
        except credential_approvals.ApprovalNeeded as error:
            return approval_needed_page(request, subject, error)
    provider_only = services.signs_in_through_provider_only(subject)
    if not confirmed(request):
        name, email = subject.get_full_name(), subject.email
        losses = [
            _(
                "%(name)s's former password stops working, and their former second factors "
                "are deleted."
            )
            % {"name": name},
            _(
                "Sessions and API tokens ended at the departure stay ended; site roles and "
                "teams do not come back."
            ),
        ]
        if send_link:
            losses.append(
                _(
                    "A single-use link goes to %(email)s: the person chooses a new password "
                    "there, then sets up a second factor. It expires in 24 hours."
                )
                % {"email": email}
            )
        elif provider_only:
            losses.append(
                _(
                    "%(name)s signs in through the organisation's identity provider: send "
                    "them a new link to it afterwards (Identity providers, on this page). "
                    "No set-up link: a password here would be a way around the provider."
                )
                % {"name": name}
            )
        else:
            losses.append(
                _(
                    "Nobody can sign in with a password until you send a set-up link from "
                    "this page. A person who signs in through an identity provider needs "
                    "a new link to it (Identity providers, on this page)."
                )
            )
        return confirmation_page(
            request,
            title=_("Reactivate the account of %(name)s?") % {"name": name},
            losses=losses,
            button=_("Reactivate and send the link") if send_link else _("Reactivate"),
            cancel_url=reverse("accounts:admin_user", args=[subject.pk]),
        )
    expires_at = offboarding.user_reactivate(
        actor=signed_in_user(request), user=subject, send_setup_link=send_link
    )
    if expires_at is not None:
        messages.success(
            request,
            _(
                "Account of %(name)s reactivated. A set-up link went to %(email)s: they "
                "choose a new password there, then set up a second factor."
            )
            % {"name": subject.get_full_name(), "email": subject.email},
        )
    else:
        messages.success(
            request,
            _(
                "Account of %(name)s reactivated, without a password: send them a set-up "
                "link when they are ready."
            )
            % {"name": subject.get_full_name()},
        )
    return redirect("accounts:admin_user", user_id=subject.pk)


@site_admin_required
@require_POST
# The link chooses the account's password: with a stolen session, a way to make one
# sent again and again; and the person's mailbox, never this page, receives it.
@reauth.recent_proof_required()
def user_setup_link_send(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    back = reverse("accounts:admin_user", args=[subject.pk])
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Send a set-up link to %(name)s?") % {"name": subject.get_full_name()},
            losses=[
                _(
                    "A single-use link goes to %(email)s: whoever opens it chooses this "
                    "account's password, then sets up a second factor. It expires in 24 hours."
                )
                % {"email": subject.email},
                _("Any set-up link sent before stops working."),
                _("Check the address first: the link is a key to the account."),
            ],
            button=_("Send the link"),
            cancel_url=back,
        )
    try:
        services.setup_link_provider_only_check(actor=signed_in_user(request), user=subject)
    except AccountRuleError as error:
        return _setup_link_refused(request, subject, error)
    try:
        services.setup_link_send(actor=signed_in_user(request), user=subject)
    except credential_approvals.ApprovalNeeded as error:
        return approval_needed_page(request, subject, error)
    except AccountRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
    else:
        messages.success(request, _("Set-up link sent to %(email)s.") % {"email": subject.email})
    return redirect(back)


@site_admin_required
# An invitation opens an account: with a stolen session, one for the thief.
@reauth.recent_proof_required(methods={"POST"})
def invitation_list(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST if request.method == "POST" else None)
    # Re-displayed with its errors: a refusal (400, or the rule's status), recorded.
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            sent = invitations.invitation_create(
                actor=signed_in_user(request),
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                teams=list(form.cleaned_data["teams"]),
                grants_site_admin=form.cleaned_data["grants_site_admin"],
                grants_auditor=form.cleaned_data["grants_auditor"],
            )
        except AccountRuleError as error:
            form.add_error("email", str(error))
            status = error.status_code
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": sent.invitation.email}
            )
            return redirect("accounts:admin_invitations")
    context = {
        "form": form,
        "invitations": Invitation.objects.select_related("invited_by", "accepted_user")[:200],
    }
    return render(request, "accounts/admin/invitation_list.html", context, status=status)


@site_admin_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Revoke the invitation of %(email)s?") % {"email": invitation.email},
            losses=[
                _("the link sent to %(email)s stops working at once: it cannot be turned back on")
                % {"email": invitation.email},
            ],
            button=_("Revoke the invitation"),
            cancel_url=reverse("accounts:admin_invitations"),
        )
    invitations.invitation_revoke(actor=signed_in_user(request), invitation=invitation)
    messages.success(request, _("Invitation of %(email)s revoked.") % {"email": invitation.email})
    return redirect("accounts:admin_invitations")


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    actor = signed_in_user(request)
    form = TeamForm(request.POST if request.method == "POST" and actor.is_site_admin else None)
    if form.is_bound and form.is_valid():
        try:
            team = services.team_create(
                actor=actor,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except AccountRuleError as error:
            form.add_error("name", str(error))
        else:
            return redirect("accounts:team", slug=team.slug)
    teams = selectors.teams_visible_to(actor).prefetch_related("memberships__user")
    # A team form re-displayed with its errors is a refusal (400), recorded as one.
    status = 400 if form.is_bound else 200
    return render(
        request, "accounts/admin/team_list.html", {"teams": teams, "form": form}, status=status
    )


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    actor = signed_in_user(request)
    team = get_object_or_404(selectors.teams_visible_to(actor), slug=slug)
    can_manage = selectors.team_manageable_by(team, actor)
    form = TeamMemberForm(request.POST if request.method == "POST" and can_manage else None)
    if request.method == "POST" and not can_manage:
        raise Http404
    if form.is_bound and form.is_valid():
        try:
            services.team_member_set(
                actor=actor,
                team=team,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except AccountRuleError as error:
            # Shown with the form at 400, not behind a redirect: the refusal is then
            # recorded (audit/refusals.py) unless the service audited it already.
            form.add_error("user", str(error))
        else:
            messages.success(
                request,
                _("%(name)s is in %(team)s.")
                % {"name": form.cleaned_data["user"].get_full_name(), "team": team.name},
            )
            return redirect("accounts:team", slug=team.slug)
    context = {
        "team": team,
        "memberships": team.memberships.select_related("user").order_by("user__email"),
        "can_manage": can_manage,
        "form": form,
        # What left the team space (docs/accounts.md, "Teams"): for the team's own
        # managers, who answer for its files; file names are not for a site
        # administrator who is not one (separation of duties).
        "departures": (
            readable_events(team_departures(team_id=team.pk))
            if selectors.team_managed_by_member(team, actor)
            else None
        ),
    }
    # A member form that could not be used is a refusal (400), recorded as one.
    status = 400 if form.is_bound else 200
    return render(request, "accounts/admin/team_detail.html", context, status=status)


@login_required
@require_POST
def team_member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    actor = signed_in_user(request)
    team = get_object_or_404(selectors.teams_visible_to(actor), slug=slug)
    if not selectors.team_manageable_by(team, actor):
        raise Http404
    membership = get_object_or_404(TeamMembership, pk=membership_id, team=team)
    name = membership.user.get_full_name()
    leave = team_leave_preview(team=team, user=membership.user)
    unchanged = leave.preview_unchanged(request.POST.get(PREVIEW_DIGEST_FIELD))
    if not confirmed(request) or not unchanged:
        if not unchanged:
            messages.warning(request, LIST_CHANGED_MESSAGE)
        # Not undone by adding the person back: what was shared with them by name in the
        # team space, and what they opened to outsiders on its files, end with the
        # membership; named here from the dry runs of the functions that end them.
        return confirmation_page(
            request,
            title=_("Remove %(name)s from %(team)s?") % {"name": name, "team": team.name},
            losses=[],
            details_template="accounts/admin/_team_leave_preview.html",
            # File names for the team's own managers only: an administrator who is not
            # one reads how many of each kind (docs/accounts.md, "Leaving a team").
            details=leave.as_context(names_shown=selectors.team_managed_by_member(team, actor)),
            extra_fields={PREVIEW_DIGEST_FIELD: leave.digest()},
            button=_("Remove from the team"),
            cancel_url=reverse("accounts:team", args=[team.slug]),
        )
    services.team_member_remove(
        actor=actor, membership=membership, reason=services.MembershipEndReason.TEAM_MANAGEMENT
    )
    messages.success(
        request,
        _("%(name)s removed from %(team)s.")
        % {"name": membership.user.get_full_name(), "team": team.name},
    )
    return redirect("accounts:team", slug=team.slug)


@site_admin_required
@reauth.recent_proof_required(methods={"POST"})  # weakening the policy weakens everyone
def policy(request: HttpRequest) -> HttpResponse:
    current = AccountPolicy.current()
    form = PolicyForm(request.POST if request.method == "POST" else None, instance=current)
    if request.method == "POST" and form.is_valid():
        # Only what this administrator changed on the page: a colleague's save landing
        # meanwhile keeps the fields this one left as they were.
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        fresh = AccountPolicy.current()
        services.policy_update(actor=signed_in_user(request), policy=fresh, changes=changes)
        messages.success(request, _("Account policy saved: it applies from now on."))
        return redirect("accounts:admin_policy")
    status = 400 if request.method == "POST" else 200  # errors shown: a recorded refusal
    return render(request, "accounts/admin/policy.html", {"form": form}, status=status)


@site_admin_required
def access_review(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/admin/access_review.html", {"review": selectors.access_review()}
    )


def _auditor_conflict(proposal: RoleProposal) -> str:
    if proposal.role != GrantedRole.AUDITOR:
        return ""
    access = roles.auditor_content_access(proposal.subject)
    return roles.auditor_content_message(proposal.subject, access) if access else ""


def _grant_withdrawn(proposal: RoleProposal, *, names_shown: bool) -> dict[str, object]:
    withdrawn = (
        roles.auditor_grant_withdrawn(proposal.subject)
        if proposal.role == GrantedRole.AUDITOR
        else []
    )
    return {
        "withdrawn": bounded(withdrawn),
        "names_shown": names_shown,
        "withdrawn_kinds": roles.withdrawn_kinds(withdrawn),
    }


@role_approver_required
def role_proposals(request: HttpRequest) -> HttpResponse:
    """Proposed roles awaiting a second person; each may be approved or declined."""
    actor = signed_in_user(request)
    rows = [
        {
            "proposal": proposal,
            "form": RoleDecisionForm(prefix=f"p{proposal.pk}"),
            "may_decide": actor.pk not in (proposal.proposed_by_id, proposal.subject_id),
            # Said before the approver tries: the approval would be refused.
            "conflict": _auditor_conflict(proposal),
            # Said before anyone approves: the approval withdraws these at once. By
            # name to an auditor approving (the log names them too); counted by kind
            # to an administrator, who manages roles, not colleagues' files.
            **_grant_withdrawn(proposal, names_shown=actor.is_auditor),
        }
        for proposal in roles.role_proposals_pending()
    ]
    return render(request, "accounts/admin/role_proposals.html", {"rows": rows})


@role_approver_required
@require_POST
@reauth.recent_proof_required()  # approving gives a site role
def role_proposal_decide(request: HttpRequest, proposal_id: int) -> HttpResponse:
    actor = signed_in_user(request)
    approve = request.POST.get("decision") == "approve"
    form = RoleDecisionForm(request.POST, prefix=f"p{proposal_id}")
    if approve and not form.is_valid():
        messages.error(request, _("Tick the confirmation box to approve."))
        return redirect("accounts:admin_role_proposals")
    try:
        proposal = roles.role_proposal_decide(actor=actor, proposal_id=proposal_id, approve=approve)
    except AccountRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
        return redirect("accounts:admin_role_proposals")
    if proposal.approved:
        messages.success(request, _("Approved: the role is granted."))
    else:
        messages.success(request, _("Declined: the role is not granted."))
    return redirect("accounts:admin_role_proposals")
