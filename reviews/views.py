"""Pages of the access reviews: the list (a manager's reviews; everything, escalations
first, for site administrators), one review with a decision per item, its CSV export."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import signed_in_user
from accounts.team_leave_preview import (
    LIST_CHANGED_MESSAGE,
    PREVIEW_DIGEST_FIELD,
    TeamLeavePreview,
)
from audit import refusals
from core.confirm import confirmation_page, confirmed
from reviews import services
from reviews.models import AccessReview, AccessReviewItem


def _visible(actor: User) -> QuerySet[AccessReview]:
    return services.access_reviews_visible_to(actor)


@login_required
def review_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/list.html", {"reviews": _visible(signed_in_user(request))})


@login_required
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    actor = signed_in_user(request)
    review = get_object_or_404(_visible(actor), pk=review_id)
    # Items the reviewer may revoke but not confirm (their own access or grant): the
    # page says why instead of offering a button that would be refused.
    not_confirmable = services.items_not_confirmable_by(actor=actor, review=review)
    # File names for the team's managers and auditors; a site administrator who is
    # neither reads the kind of item and whom it reaches (separation of duties).
    names_shown = services.names_shown_to(actor=actor, review=review)
    items = [
        (
            item,
            services.item_label_for(item, names_shown=names_shown),
            not_confirmable.get(item.pk, ""),
        )
        for item in review.items.select_related("decided_by")
    ]
    context = {
        "review": review,
        "items": items,
        "may_decide": services.may_decide(actor=actor, review=review),
        "auditor_reads_only": actor.is_auditor,
    }
    return render(request, "reviews/detail.html", context)


@login_required
@require_POST
def item_decide(request: HttpRequest, review_id: int, item_id: int) -> HttpResponse:
    actor = signed_in_user(request)
    review = get_object_or_404(_visible(actor), pk=review_id)
    item = get_object_or_404(AccessReviewItem, pk=item_id, review=review)
    decision = request.POST.get("decision", "")
    # An auditor reads, never decides: refused (403) before any confirmation page.
    services.auditor_decision_refuse(actor=actor, item=item, decision=decision)
    # Someone who may not decide (an administrator before the escalation, a closed
    # review) is refused at once, as an auditor is: never asked to confirm first.
    may_decide = services.may_decide(actor=actor, review=review) and review.closed_at is None
    if decision == "revoked" and may_decide:
        # What is lost, named; for a member, the list's digest rides along, and a list
        # that changed since it was read (another link opened meanwhile) asks again.
        names_shown = services.names_shown_to(actor=actor, review=review)
        consequences = services.revoke_consequences(item=item, names_shown=names_shown)
        leave = consequences.get("leave")
        leave = leave if isinstance(leave, TeamLeavePreview) else None
        unchanged = leave is None or leave.preview_unchanged(request.POST.get(PREVIEW_DIGEST_FIELD))
        if not confirmed(request) or not unchanged:
            if not unchanged:
                messages.warning(request, LIST_CHANGED_MESSAGE)
            return confirmation_page(
                request,
                title=_("Revoke this access?"),
                losses=[],
                details_template="reviews/_revoke_preview.html",
                details={
                    "item": item,
                    "item_label": services.item_label_for(item, names_shown=names_shown),
                    **consequences,
                },
                extra_fields={PREVIEW_DIGEST_FIELD: leave.digest()} if leave else None,
                button=_("Revoke"),
                cancel_url=reverse("reviews:review", args=[review.pk]),
            )
    try:
        services.access_review_decide(actor=actor, item=item, decision=decision)
    except services.AuditorDecisionRefused:
        raise  # the 403 page, with its message (already recorded)
    except services.ReviewRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
    return redirect("reviews:review", review_id=review.pk)


@login_required
def review_export(request: HttpRequest, review_id: int) -> HttpResponse:
    actor = signed_in_user(request)
    review = get_object_or_404(_visible(actor), pk=review_id)
    if not services.may_export(actor=actor, review=review):
        raise Http404
    response = HttpResponse(
        services.access_review_export(actor=actor, review=review),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="access-review-{review.pk}.csv"'
    return response
