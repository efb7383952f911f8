"""What a link's recipient sees under /s/<token>/ (no account): HTTP only.

The decisions (is the token good, is the link alive, what has this session proved,
may this file be sent, does it count) are in ``sharing.services.link_access``; these views
turn them into pages: the landing page with its password and e-mail code steps, the
content, and one clear refusal page (404 for an unknown link, 410 for a dead one,
429 when rate limited) that never sends the file.
"""

from __future__ import annotations

import math

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit.actions import Action
from core.http import COUNT_BEYOND_ANYTHING
from files.errors import NotDownloadableError
from sharing.services import link_access, link_downloads
from sharing.services.link_access import Access, AccessOutcome, CodeCheck, CodeVerdict, Step

_STATUS = {
    AccessOutcome.UNKNOWN: 404,
    AccessOutcome.RATE_LIMITED: 429,
    AccessOutcome.EXPIRED: 410,
    AccessOutcome.REVOKED: 410,
    AccessOutcome.LIMIT_REACHED: 410,
    AccessOutcome.GONE: 410,
    AccessOutcome.VIEW_ONLY: 403,
    AccessOutcome.AUDITOR: 403,
    # Not there for now, nothing said about why (a leak under investigation): 410, as
    # for a withdrawn link, and never cached (every view here is ``never_cache``).
    AccessOutcome.SUSPENDED: 410,
}


def link_refused(
    request: HttpRequest, outcome: AccessOutcome, *, retry_after: float = 60.0
) -> HttpResponse:
    response = render(
        request,
        "sharing/public/refused.html",
        {"outcome": str(outcome)},
        status=_STATUS.get(outcome, 404),
    )
    if outcome == AccessOutcome.RATE_LIMITED:
        # The limiter's own wait (a guess limit's is up to 15 minutes): a client that
        # obeys a shorter one is refused again, and each refusal counts.
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


CODE_SENT_NOTICE = "share_link_code_sent"
"""Session key: (link id, notice) between the code's POST and the page it redirects to."""


def _landing(
    request: HttpRequest,
    access: Access,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
    code_refused: bool = False,
) -> HttpResponse:
    link = access.link
    assert link is not None  # noqa: S101  (a live access)
    if not (notice or error) and access.grant is not None and access.grant.lapsed(access.step):
        hours = int(link_access.PROOF_LIFETIME.total_seconds() // 3600)
        notice = ngettext(
            "Your confirmation in this browser has lapsed: it lasts %(count)d hour, for the "
            "safety of the files. Confirm again below.",
            "Your confirmation in this browser has lapsed: it lasts %(count)d hours, for the "
            "safety of the files. Confirm again below.",
            hours,
        ) % {"count": hours}
    context = {
        "link": link,
        "token": request.resolver_match.kwargs["token"] if request.resolver_match else "",
        "sender": link.created_by,
        "step": str(access.step or ""),
        "error": error,
        "notice": notice,
        "code_refused": code_refused,
        "recipient_masked": link_access.recipient_email_masked(link.recipient_email),
        "code_digits": link_access.CODE_DIGITS,
        "kind": "file" if link.file_id else "transfer" if link.transfer_id else "folder",
    }
    if access.unlocked:
        context["content"] = link_downloads.share_link_content(link)
        context["transfer"] = link.transfer
    return render(request, "sharing/public/open.html", context, status=status)


def code_refusal_message(check: CodeCheck) -> str:
    """What the recipient can do about a refused code (about this link's code only)."""
    ask_again = _("Ask for a new code with “E-mail me a code”.")
    if check.verdict == CodeVerdict.WRONG and check.tries_left > 0:
        return ngettext(
            "This code is wrong. You can try %(count)d more time with it.",
            "This code is wrong. You can try %(count)d more times with it.",
            check.tries_left,
        ) % {"count": check.tries_left}
    if check.verdict in (CodeVerdict.WRONG, CodeVerdict.USED_UP):
        return _("Too many wrong codes: this one no longer works.") + " " + ask_again
    if check.verdict == CodeVerdict.EXPIRED:
        minutes = int(link_access.CODE_LIFETIME.total_seconds() // 60)
        return (
            ngettext(
                "This code has expired: a code works for %(count)d minute.",
                "This code has expired: a code works for %(count)d minutes.",
                minutes,
            )
            % {"count": minutes}
            + " "
            + ask_again
        )
    return (
        _("No code is waiting for this link: a code works once, and a new one replaces it.")
        + " "
        + ask_again
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def link_open(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "HEAD":
        return _landing_probed(request, token)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "password":
        access = link_access.share_link_password_submit(
            request=request, token=token, password=request.POST.get("password", "")
        )
        if access.live and not access.message:
            return redirect("share_link:open", token=token)
    else:
        access = link_access.share_link_access(
            request=request, token=token, audit_ok=request.method == "GET"
        )
    if not access.live:
        return link_refused(request, access.outcome, retry_after=access.retry_after)
    link = access.link
    assert link is not None  # noqa: S101
    if access.message:
        return _landing(request, access, error=access.message)
    if access.step == Step.EMAIL and action == "send_code":
        refusal = link_access.share_link_code_send(
            request=request, link=link, language=translation.get_language() or "en"
        )
        if refusal:
            return _landing(request, access, error=refusal)
        # Redirected, so that reloading the page does not post again: a minute later a
        # second code would be sent and replace the one being typed.
        request.session[CODE_SENT_NOTICE] = [
            link.pk,
            _("We sent a code to %(email)s. It is valid for 10 minutes.")
            % {"email": link_access.recipient_email_masked(link.recipient_email)},
        ]
        return redirect("share_link:open", token=token)
    if access.step == Step.EMAIL and action == "code":
        request.session.pop(CODE_SENT_NOTICE, None)  # the code is typed: news no more
        check = link_access.share_link_code_check(
            request=request, link=link, code=request.POST.get("code", "")
        )
        if check.ok:
            return redirect("share_link:open", token=token)
        if check.verdict == CodeVerdict.RATE_LIMITED:
            return link_refused(request, AccessOutcome.RATE_LIMITED, retry_after=check.retry_after)
        return _landing(
            request, access, error=code_refusal_message(check), status=400, code_refused=True
        )
    return _landing(request, access, notice=_code_sent_notice(request, link.pk))


def _landing_probed(request: HttpRequest, token: str) -> HttpResponse:
    """A ``HEAD``: mail scanners and link previews check the address before the
    recipient clicks. The same status and headers as a ``GET`` (the server sends no
    body), but nobody opened anything: no ``sharing.link.access`` success, no "last
    opened", the "code sent" notice left for the real page. Refusals (an unknown token,
    a dead link, a rate limit) are recorded as a ``GET``'s, with ``method: HEAD``: a
    guess is a guess whatever the method."""
    access = link_access.share_link_access(
        request=request, token=token, audit_ok=False, opened=False, method="HEAD"
    )
    if not access.live:
        return link_refused(request, access.outcome, retry_after=access.retry_after)
    return _landing(request, access)


def _code_sent_notice(request: HttpRequest, link_pk: int) -> str:
    """The "we sent a code" notice left by the POST that sent it, shown once."""
    pending = request.session.get(CODE_SENT_NOTICE)
    if not pending or pending[0] != link_pk:
        return ""
    del request.session[CODE_SENT_NOTICE]
    return str(pending[1])


def file_id_bounded(file_id: int) -> int:
    """The URL's file id, saturated where no row can be: the audit chain's JSON holds
    integers up to 2^53 - 1 only, and "/files/<thirty nines>/" was a 500, not a 404."""
    return min(file_id, COUNT_BEYOND_ANYTHING)


def link_gate(request: HttpRequest, token: str) -> Access | HttpResponse:
    access = link_access.share_link_access(
        request=request, token=token, audit_ok=False, allow_exhausted=True
    )
    if not access.live:
        return link_refused(request, access.outcome, retry_after=access.retry_after)
    if not access.unlocked:
        # The proofs are missing (a new browser, a session that ended): start over.
        return redirect("share_link:open", token=token)
    return access


@never_cache
@require_http_methods(["GET", "HEAD"])
def link_file_download(request: HttpRequest, token: str, file_id: int) -> HttpResponseBase:
    access = link_gate(request, token)
    if isinstance(access, HttpResponse):
        return access
    assert access.link is not None  # noqa: S101
    file_id = file_id_bounded(file_id)
    file = link_downloads.share_link_file(access.link, file_id)
    if file is None:
        link_access.access_record(
            request=request,
            link=access.link,
            outcome=AccessOutcome.UNKNOWN,
            action=Action.SHARING_LINK_DOWNLOAD,
            file=file_id,
        )
        return link_refused(request, AccessOutcome.UNKNOWN)
    try:
        result = link_downloads.share_link_download_response(
            request=request, access=access, file=file
        )
    except NotDownloadableError as error:
        return render(
            request,
            "sharing/public/unavailable.html",
            {"file": file, "message": str(error), "token": token},
            status=error.status_code,
        )
    if isinstance(result, AccessOutcome):
        return link_refused(request, result)
    return result


@never_cache
@require_http_methods(["GET", "HEAD"])
def link_archive_download(request: HttpRequest, token: str) -> HttpResponseBase:
    access = link_gate(request, token)
    if isinstance(access, HttpResponse):
        return access
    result = link_downloads.share_link_archive_response(request=request, access=access)
    if isinstance(result, AccessOutcome):
        return link_refused(request, result)
    return result
