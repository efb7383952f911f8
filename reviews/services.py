"""Opening, deciding, escalating and exporting access reviews.

A review is opened per team that has an active manager, once per period; it lists, as
they are at opening: the team's members, the shares of the team space's files and
folders with people or teams outside it, and the live external links to them. A
manager confirms an item (it stays) or revokes it (the membership, share or link ends
at once, with its own audit event). At the due date, a review with items still pending
escalates: site administrators see it on their list (and by e-mail). Every step is
audited; the review exports as CSV.

Auditors read every review (and export it) but never decide one, even when they are
also a site administrator or, from before the rule, a manager of the team: deciding who
keeps access to patient files is content governance, and the one who checks it does
not also make it (docs/access-reviews.md; ARCHITECTURE.md, invariant 4).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import services as account_services
from accounts.models import Team, TeamMembership, TeamRole, User
from accounts.team_leave_preview import team_leave_preview
from audit import services as audit
from audit.actions import Action
from audit.exports import UTF8_BOM, csv_cell_safe
from audit.models import Outcome
from core.bounded import bounded
from core.errors import RuleError
from files.models import Space, SpaceKind
from reviews.labels import RecipientKind, SubjectKind
from reviews.models import AccessReview, AccessReviewItem, Decision, ItemKind
from sharing.models import Share, ShareLink
from sharing.services.withdrawals import item_name


class ReviewRuleError(RuleError):
    """A decision the review's rules refuse; the message is shown to the manager."""


class AuditorDecisionRefused(ReviewRuleError, PermissionDenied):
    """An auditor asked to decide an item: a 403 that says why (recorded already)."""

    status_code = 403
    recorded = True


def access_reviews_visible_to(actor: User) -> QuerySet[AccessReview]:
    """The reviews ``actor`` may read: every one for site administrators and auditors
    (escalations first), the reviews of the teams they manage for a manager."""
    reviews = AccessReview.objects.select_related("team")
    if actor.is_site_admin or actor.is_auditor:
        return reviews.order_by("-escalated_at", "-opened_at")
    managed = TeamMembership.objects.filter(user=actor, role=TeamRole.MANAGER).values("team_id")
    return reviews.filter(team_id__in=managed)


def may_export(*, actor: User, review: AccessReview) -> bool:
    """The review's CSV: for those who decide it, site administrators and auditors."""
    return actor.is_site_admin or actor.is_auditor or may_decide(actor=actor, review=review)


def _period() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "ACCESS_REVIEW_PERIOD_DAYS", 91)))


def _due() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "ACCESS_REVIEW_DUE_DAYS", 14)))


def team_managers(team: Team) -> list[User]:
    return [
        m.user
        for m in TeamMembership.objects.filter(
            team=team, role=TeamRole.MANAGER, user__is_active=True
        ).select_related("user")
    ]


def _items_of(team: Team) -> list[AccessReviewItem]:
    """The team's items as they are now, unsaved: what each label is made of, never the
    label (built when shown, in the reader's language, reviews/labels.py)."""
    items: list[AccessReviewItem] = []
    for membership in TeamMembership.objects.filter(team=team).select_related("user"):
        items.append(
            AccessReviewItem(
                kind=ItemKind.MEMBER,
                object_id=membership.pk,
                subject_name=membership.user.get_full_name()[:400],
                member_role=membership.role,
            )
        )
    space = Space.objects.filter(kind=SpaceKind.TEAM, team=team).first()
    if space is None:
        return items
    in_space = Q(file__space=space) | Q(folder__space=space)
    members = TeamMembership.objects.filter(team=team).values("user_id")
    outside = Share.objects.filter(in_space).exclude(user_id__in=members).exclude(team=team)
    for share in outside.select_related("file", "folder", "user", "team"):
        item = share.file or share.folder
        items.append(
            AccessReviewItem(
                kind=ItemKind.SHARE,
                object_id=share.pk,
                subject_name=(item.name if item else "?")[:400],
                subject_kind=_subject_kind(share.folder_id),
                recipient_kind=RecipientKind.PERSON if share.user else RecipientKind.TEAM,
                recipient_name=(
                    share.user.get_full_name()
                    if share.user
                    else (share.team.name if share.team else "")
                )[:400],
            )
        )
    live = ShareLink.objects.filter(
        Q(file__space=space) | Q(folder__space=space),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("file", "folder", "created_by")
    for link in live:
        item = link.file or link.folder
        items.append(
            AccessReviewItem(
                kind=ItemKind.LINK,
                object_id=link.pk,
                subject_name=(item.name if item else "?")[:400],
                subject_kind=_subject_kind(link.folder_id),
                recipient_kind=(
                    RecipientKind.ADDRESS if link.recipient_email else RecipientKind.ANYONE
                ),
                recipient_name=link.recipient_email[:400],
                creator_name=link.created_by.get_full_name()[:200],
            )
        )
    return items


def _subject_kind(folder_id: int | None) -> str:
    return SubjectKind.FOLDER if folder_id is not None else SubjectKind.FILE


def names_shown_to(*, actor: User, review: AccessReview) -> bool:
    """Whether ``actor`` reads the names of the team's files in ``review``: its team's
    own active managers, who answer for the files, and auditors, who read the same
    names in the audit log (docs/audit.md). A site administrator who is neither manages
    accounts, never content (ARCHITECTURE.md, invariant 4): he reads the kind of item
    and whom it reaches, not which file."""
    if actor.is_auditor:
        return True
    return TeamMembership.objects.filter(
        team_id=review.team_id, user=actor, role=TeamRole.MANAGER, user__is_active=True
    ).exists()


def item_label_for(item: AccessReviewItem, *, names_shown: bool) -> str:
    """The item as this reader may read it (``names_shown_to``)."""
    if names_shown or item.kind == ItemKind.MEMBER:
        return item.label
    # An older item whose parts are unknown: the kind alone, never the stored name.
    return item.label_without_names() or str(item.get_kind_display())


def access_reviews_open(*, now: dt.datetime | None = None) -> int:
    """Beat task: open the period's review of every team with an active manager that
    has none open or opened within the period. Idempotent."""
    now = now or timezone.now()
    opened = 0
    for team in Team.objects.all():
        if not team_managers(team):
            continue
        recent = AccessReview.objects.filter(team=team).filter(
            Q(closed_at__isnull=True) | Q(opened_at__gt=now - _period())
        )
        if recent.exists():
            continue
        with transaction.atomic():
            review = AccessReview.objects.create(team=team, opened_at=now, due_at=now + _due())
            items = _items_of(team)
            for item in items:
                item.review = review
            AccessReviewItem.objects.bulk_create(items)
            audit.record(
                action=Action.REVIEWS_REVIEW_OPEN,
                actor=None,
                actor_label="system (access review)",
                target_type="reviews.review",
                target_id=review.pk,
                details={"team": team.name, "items": len(items)},
            )
        opened += 1
    return opened


def may_decide(*, actor: User, review: AccessReview) -> bool:
    """The team's active managers; once the review is escalated, the site
    administrators too (the escalation is theirs to finish). Never an auditor, whatever
    other role or membership they hold."""
    if actor.is_auditor:
        return False
    if review.escalated_at is not None and actor.is_site_admin and actor.is_active:
        return True
    return TeamMembership.objects.filter(
        team_id=review.team_id, user=actor, role=TeamRole.MANAGER, user__is_active=True
    ).exists()


def _own_access_reason(*, actor: User, item: AccessReviewItem) -> str:
    """Why ``actor`` may not confirm ``item`` ("" when they may): it is their own
    membership ("self_review"), or a share or link they made, or a share that reaches
    them ("own_grant"). A reviewer certifying their own access, or their own decision
    to open patient files to someone, is no review."""
    if item.kind == ItemKind.MEMBER:
        own = TeamMembership.objects.filter(pk=item.object_id, user=actor).exists()
        return "self_review" if own else ""
    if item.kind == ItemKind.SHARE:
        my_teams = TeamMembership.objects.filter(user=actor).values("team_id")
        own = (
            Share.objects.filter(pk=item.object_id)
            .filter(Q(created_by=actor) | Q(user=actor) | Q(team_id__in=my_teams))
            .exists()
        )
        return "own_grant" if own else ""
    if item.kind == ItemKind.LINK:
        own = ShareLink.objects.filter(pk=item.object_id, created_by=actor).exists()
        return "own_grant" if own else ""
    return ""


def items_not_confirmable_by(*, actor: User, review: AccessReview) -> dict[int, str]:
    """The pending items ``actor`` may revoke but not confirm, by item id, with the
    reason (``_own_access_reason``): the review page says why instead of a button."""
    return {
        item.pk: reason
        for item in review.items.filter(decision=Decision.PENDING)
        if (reason := _own_access_reason(actor=actor, item=item))
    }


def own_access_message(reason: str) -> str:
    if reason == "self_review":
        return _(
            "Nobody confirms their own access: another manager of the team does, or a "
            "site administrator once the review is escalated."
        )
    return _(
        "Nobody confirms access they granted themselves or that reaches them: another "
        "manager of the team does, or a site administrator once the review is escalated."
    )


def _decide_refused(*, actor: User, item: AccessReviewItem, decision: str, reason: str) -> None:
    audit.record(
        action=Action.REVIEWS_ITEM_DECIDE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="reviews.review",
        target_id=item.review_id,
        details={
            "kind": item.kind,
            "object": item.object_id,
            **item.audit_details(),
            "team": item.review.team.name,
            "decision": decision[:20],
            "reason": reason,
        },
    )


def auditor_decision_refuse(*, actor: User, item: AccessReviewItem, decision: str) -> None:
    """Refuse (403, recorded with reason ``auditor``) a decision asked by an auditor; do
    nothing for anyone else. Asked before anything else, the confirmation page
    included, so that an auditor is never asked to confirm what will be refused."""
    if not actor.is_auditor:
        return
    _decide_refused(actor=actor, item=item, decision=decision, reason="auditor")
    raise AuditorDecisionRefused(
        _(
            "An auditor reads access reviews but does not decide them: who keeps access "
            "to patient files is decided by the team's managers, or by a site "
            "administrator who is not an auditor once the review is escalated."
        )
    )


def access_review_decide(*, actor: User, item: AccessReviewItem, decision: str) -> None:
    """The team's manager confirms or revokes one item (revoking acts at once).

    Nobody confirms their own membership (a reviewer certifying their own access is no
    review): another manager does, or, once escalated, a site administrator. Giving
    one's own access up is always allowed. An auditor decides nothing."""
    review = item.review
    auditor_decision_refuse(actor=actor, item=item, decision=decision)
    if not may_decide(actor=actor, review=review) or review.closed_at is not None:
        _decide_refused(actor=actor, item=item, decision=decision, reason="not_reviewer")
        raise ReviewRuleError(_("Only a manager of this team decides, while the review is open."))
    if decision not in (Decision.CONFIRMED, Decision.REVOKED):
        raise ReviewRuleError(_("Confirm or revoke."))
    own = _own_access_reason(actor=actor, item=item) if decision == Decision.CONFIRMED else ""
    if own:
        _decide_refused(actor=actor, item=item, decision=decision, reason=own)
        raise ReviewRuleError(own_access_message(own))
    with transaction.atomic():
        locked = AccessReviewItem.objects.select_for_update().get(pk=item.pk)
        if locked.decision != Decision.PENDING:
            return
        if decision == Decision.REVOKED:
            _revoke(actor=actor, item=locked)
        locked.decision, locked.decided_by, locked.decided_at = decision, actor, timezone.now()
        locked.save(update_fields=["decision", "decided_by", "decided_at"])
        audit.record(
            action=Action.REVIEWS_ITEM_DECIDE,
            actor=actor,
            target_type="reviews.review",
            target_id=review.pk,
            # The item's parts name the person, share or link as the reviewer saw it:
            # once revoked, the object's id names nothing an auditor can look up. Codes
            # and names, no sentence: the console words it in the auditor's language.
            details={
                "kind": locked.kind,
                "object": locked.object_id,
                **locked.audit_details(),
                "team": review.team.name,
                "decision": decision,
            },
        )
        if not review.items.filter(decision=Decision.PENDING).exists():
            AccessReview.objects.filter(pk=review.pk).update(closed_at=timezone.now())


def _revoke(*, actor: User, item: AccessReviewItem) -> None:
    now = timezone.now()
    if item.kind == ItemKind.MEMBER:
        membership = TeamMembership.objects.filter(pk=item.object_id).first()
        if membership is not None:
            # The one way out of a team: the shares of the team's files made to them by
            # name (one made before they joined, left out of the review) end with it.
            account_services.team_member_remove(
                actor=actor,
                membership=membership,
                reason=account_services.MembershipEndReason.ACCESS_REVIEW,
            )
    elif item.kind == ItemKind.SHARE:
        share = Share.objects.filter(pk=item.object_id).select_related("user", "team").first()
        if share is not None:
            _share_revoke(actor=actor, share=share)
    elif ShareLink.objects.filter(pk=item.object_id, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor
    ):
        audit.record(
            action=Action.SHARING_LINK_REVOKE,
            actor=actor,
            target_type="sharing.link",
            target_id=item.object_id,
            details={"reason": "access_review"},
        )


def revoke_consequences(*, item: AccessReviewItem, names_shown: bool) -> dict[str, object]:
    """What revoking ``item`` takes away, named for its confirmation page
    (``reviews/_revoke_preview.html``), read from the rows ``_revoke`` ends: for a
    member, the dry run of leaving the team (``accounts.team_leave_preview``, the same
    finders the removal uses); for a share, the people it reaches; for a link, its file
    and recipient. Only ``kind`` when the membership, share or link is already gone."""
    if item.kind == ItemKind.MEMBER:
        membership = (
            TeamMembership.objects.filter(pk=item.object_id).select_related("team", "user").first()
        )
        if membership is None:
            return {"kind": item.kind}
        leave = team_leave_preview(team=membership.team, user=membership.user)
        return {"kind": item.kind, **leave.as_context(names_shown=names_shown)}
    if item.kind == ItemKind.SHARE:
        share = (
            Share.objects.filter(pk=item.object_id)
            .select_related("file__space__team", "folder__space__team", "user", "team")
            .first()
        )
        target = share.file or share.folder if share is not None else None
        if share is None or target is None:
            return {"kind": item.kind}
        # Who stops reading it: the person, or the members of the team it was shared
        # with, but those of the reviewed team (they keep the team space's files).
        people = (
            [share.user]
            if share.user is not None
            else list(
                User.objects.filter(memberships__team=share.team, is_active=True)
                .exclude(memberships__team_id=item.review.team_id)
                .order_by("full_name", "email")
            )
        )
        return {
            "kind": item.kind,
            "item_name": item_name(target) if names_shown else "",
            "names_shown": names_shown,
            "is_folder": share.folder_id is not None,
            "role": share.get_role_display(),
            "to_team": share.team.name if share.team is not None else "",
            "people": bounded([person.get_full_name() or person.email for person in people]),
        }
    link = (
        ShareLink.objects.filter(
            pk=item.object_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("file__space__team", "folder__space__team", "created_by")
        .first()
    )
    target = link.file or link.folder if link is not None else None
    if link is None or target is None:
        return {"kind": item.kind}
    return {
        "kind": item.kind,
        "item_name": item_name(target) if names_shown else "",
        "names_shown": names_shown,
        "is_folder": link.folder_id is not None,
        "creator": link.created_by.get_full_name() or link.created_by.email,
        "recipient": link.recipient_email,
    }


def _share_revoke(*, actor: User, share: Share) -> None:
    recipient = share.user.email if share.user else (share.team.slug if share.team else "")
    share_id = share.pk
    share.delete()
    audit.record(
        action=Action.SHARING_SHARE_DELETE,
        actor=actor,
        target_type="sharing.share",
        target_id=share_id,
        details={"reason": "access_review", "recipient": recipient},
    )


def access_reviews_escalate(*, now: dt.datetime | None = None) -> int:
    """Beat task: reviews past their due date with items pending go to the site
    administrators (their list shows them; each is told by e-mail). Idempotent."""
    now = now or timezone.now()
    due = AccessReview.objects.filter(
        closed_at__isnull=True, escalated_at__isnull=True, due_at__lte=now
    ).select_related("team")
    count = 0
    for review in due:
        pending = review.items.filter(decision=Decision.PENDING).count()
        with transaction.atomic():
            AccessReview.objects.filter(pk=review.pk).update(escalated_at=now)
            audit.record(
                action=Action.REVIEWS_REVIEW_ESCALATE,
                actor=None,
                actor_label="system (access review)",
                target_type="reviews.review",
                target_id=review.pk,
                details={"team": review.team.name, "pending": pending},
            )
        for admin in User.objects.filter(is_site_admin=True, is_active=True):
            with translation.override(admin.email_language):
                subject = _("Access review of %(team)s not finished") % {"team": review.team.name}
                body = ngettext(
                    "%(count)d item of the access review of %(team)s was not reviewed "
                    "by the due date. Review it: %(url)s",
                    "%(count)d items of the access review of %(team)s were not reviewed "
                    "by the due date. Review them: %(url)s",
                    pending,
                ) % {
                    "count": pending,
                    "team": review.team.name,
                    "url": f"{settings.SITE_URL}/reviews/{review.pk}/",
                }
            send_mail(subject, body, None, [admin.email], fail_silently=True)
        count += 1
    return count


def access_review_export(*, actor: User, review: AccessReview) -> str:
    """The review as CSV (one row per item, with its decision), in the active language
    (the exporter's, from the request): the manager reads it in Excel like the page. The
    export is audited."""
    out = io.StringIO()
    # Opened in Excel by the manager: a byte order mark so accents read right, and
    # names people chose (a file, a team, a person) kept from running as formulas.
    out.write(UTF8_BOM)
    writer = csv.writer(out)
    writer.writerow(
        [_("team"), _("kind"), _("item"), _("decision"), _("decided by"), _("decided at")]
    )
    names_shown = names_shown_to(actor=actor, review=review)
    for item in review.items.select_related("decided_by"):
        row = [
            review.team.name,
            str(item.get_kind_display()),
            item_label_for(item, names_shown=names_shown),
            str(item.get_decision_display()),
            item.decided_by.email if item.decided_by else "",
            item.decided_at.isoformat() if item.decided_at else "",
        ]
        writer.writerow([csv_cell_safe(value) for value in row])
    audit.record(
        action=Action.REVIEWS_REVIEW_EXPORT,
        actor=actor,
        target_type="reviews.review",
        target_id=review.pk,
        details={"team": review.team.name},
    )
    return out.getvalue()
