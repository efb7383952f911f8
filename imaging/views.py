"""Imaging pages: study search, the study page with its viewer, and the instances the
viewer fetches. Thin: selectors decide what the person may read (imaging/selectors.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from csp.decorators import csp_replace, csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import signed_in_user
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.http import errors_as_404
from files.crypto import BlobIntegrityError
from files.lineage import version_lineage_details
from files.services import version_integrity_failure_record
from files.storage import BlobMissingError
from imaging import selectors
from imaging.deidentify import (
    DeidentifyRuleError,
    deidentify_job_create,
    deidentify_refused_record,
    outside_sending_allowed,
)
from imaging.forms import DATES_KEEP, SEND_TRANSFER, DeidentifyForm
from imaging.models import DeidentifyJob, JobStatus
from imaging.reading import instance_bytes
from sharing.services import policy as sharing_policy

not_found_as_404 = errors_as_404(message=gettext_lazy("No such study or image."))

# What the viewer page needs beyond the site's CSP, on that page only (docs/imaging.md):
# dwv draws decoded pixels through blob: images and runs its decoders (RLE, JPEG) in
# module workers loaded from 'self'. The site's worker-src is 'none', which must be
# replaced, not added to (Chromium reports "'none' alongside other sources" and the
# browser test fails on that console error).
VIEWER_CSP = {"img-src": ["blob:"]}
VIEWER_WORKERS = {"worker-src": ["'self'", "blob:"]}


def _date(value: str) -> tuple[dt.date | None, bool]:
    if not value:
        return None, True
    try:
        return dt.date.fromisoformat(value), True
    except ValueError:
        return None, False


@login_required
@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    """Studies the person may read, by patient name or ID, accession number, modality
    and study date."""
    me = signed_in_user(request)
    query = request.GET.get("q", "")[: selectors.STUDY_QUERY_MAX]
    modality = request.GET.get("modality", "").strip()[:16]
    date_from, from_ok = _date(request.GET.get("from", ""))
    date_to, to_ok = _date(request.GET.get("to", ""))
    error = "" if from_ok and to_ok else _("Dates are written YYYY-MM-DD.")
    rows, more = selectors.study_rows_for(
        actor=me, query=query, modality=modality, date_from=date_from, date_to=date_to
    )
    if query or modality or date_from or date_to:
        audit.record(
            action=Action.IMAGING_STUDY_SEARCH,
            actor=me,
            target_type="imaging.study",
            details={"query": query, "modality": modality, "results": len(rows)},
        )
    context = {
        "rows": rows,
        "more": more,
        "query": query,
        "modality": modality,
        "date_from": request.GET.get("from", "")[:10] if from_ok else "",
        "date_to": request.GET.get("to", "")[:10] if to_ok else "",
        "error": error,
        "results_limit": selectors.STUDY_RESULTS_LIMIT,
    }
    return render(request, "imaging/study_list.html", context, status=400 if error else 200)


@login_required
@require_GET
@not_found_as_404
@csp_update(VIEWER_CSP)
@csp_replace(VIEWER_WORKERS)  # type: ignore[arg-type]
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    """The study's series and files (only those the person may read), and the viewer."""
    me = signed_in_user(request)
    view = selectors.study_view_for(actor=me, study_id=study_id)
    audit.record(
        action=Action.IMAGING_STUDY_VIEW,
        actor=me,
        target_type="imaging.study",
        target_id=view.study.pk,
        details={
            "name": view.study.audit_label,
            "space": view.study.space_id,
            "series": len(view.series),
            "instances": view.instance_count,
        },
    )
    return render(
        request,
        "imaging/study_detail.html",
        {"view": view, "may_send_outside": outside_sending_allowed(actor=me, series=view.series)},
    )


@login_required
@require_http_methods(["GET"])
@not_found_as_404
def instance_content(request: HttpRequest, instance_id: int) -> HttpResponseBase:
    """One instance's DICOM bytes for the viewer, decrypted as they are sent, under the
    same check as a download and audited with its lineage."""
    me = signed_in_user(request)
    instance = selectors.instance_get_for_actor(actor=me, instance_id=instance_id)
    version = instance.version
    details = {
        **version_lineage_details(version),
        "member": instance.member,
        "study": instance.series.study_id,
        "study_name": instance.series.study.audit_label,
        "series": instance.series_id,
    }
    if not version.is_downloadable:
        audit.record(
            action=Action.IMAGING_INSTANCE_VIEW,
            outcome=Outcome.DENIED,
            actor=me,
            target_type="imaging.instance",
            target_id=instance.pk,
            details={**details, "reason": str(version.scan_status)},
        )
        return HttpResponse(_("This image cannot be shown now."), status=409)
    chunks = instance_bytes(version, instance.member)
    try:
        first = next(chunks, b"")
    except (BlobIntegrityError, BlobMissingError) as error:
        version_integrity_failure_record(version=version, actor=me, error=error, during="viewer")
        return HttpResponse(_("This image failed its integrity check."), status=500)
    audit.record(
        action=Action.IMAGING_INSTANCE_VIEW,
        actor=me,
        target_type="imaging.instance",
        target_id=instance.pk,
        details=details,
    )

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    response = StreamingHttpResponse(body(), content_type="application/dicom")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "attachment"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _job_messages(request: HttpRequest, job: DeidentifyJob) -> None:
    files = int(job.result.get("files", 0))
    messages.success(
        request,
        ngettext(
            "De-identified copy made: %(count)d image, the patient is called %(pseudonym)s.",
            "De-identified copy made: %(count)d images, the patient is called %(pseudonym)s.",
            files,
        )
        % {"count": files, "pseudonym": job.pseudonym},
    )
    included = job.result.get("burned_in_included") or []
    if included:
        messages.warning(
            request,
            _(
                "You included series whose images may show names written into the pixels: "
                "%(series)s. Look at them before sending."
            )
            % {"series": ", ".join(included)},
        )
    skipped = int(job.result.get("skipped", 0))
    if skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)d image could not be de-identified and was left out.",
                "%(count)d images could not be de-identified and were left out.",
                skipped,
            )
            % {"count": skipped},
        )
    if job.error:
        messages.error(request, job.error)


@login_required
@require_http_methods(["GET", "POST"])
@not_found_as_404
def study_share(request: HttpRequest, study_id: int) -> HttpResponse:
    """Share a study outside de-identified: choose the series and the dates option; a
    worker makes a copy under the PS3.15 Annex E profile, then the sender gets a transfer
    or a link of that copy only (imaging/deidentify.py)."""
    me = signed_in_user(request)
    view = selectors.study_view_for(actor=me, study_id=study_id)
    may_send = sharing_policy.may_share_outside(me)
    shared_with_me = not outside_sending_allowed(actor=me, series=view.series)
    form = DeidentifyForm(request.POST if request.method == "POST" else None, view=view)
    error, status = "", 400 if request.method == "POST" else 200
    if request.method == "POST" and not may_send:
        deidentify_refused_record(actor=me, study_id=view.study.pk, reason="sharing policy")
        error = _("The sharing policy does not allow you to send files outside.")
    elif request.method == "POST" and form.is_valid():
        try:
            job = deidentify_job_create(
                actor=me,
                study_id=view.study.pk,
                series_ids=form.cleaned_data["series"],
                retain_dates=form.cleaned_data["dates"] == DATES_KEEP,
                send_as=form.cleaned_data["send_as"],
            )
        except DeidentifyRuleError as rule:
            error, status = str(rule), rule.status_code
        else:
            return redirect("imaging:deidentify_job", job_id=job.pk)
    selected = {str(value) for value in (form["series"].value() or [])}
    risky = {item.series.pk for item in view.burned_in_series}
    rows = [
        {"view": item, "checked": str(item.series.pk) in selected, "risky": item.series.pk in risky}
        for item in view.series
    ]
    return render(
        request,
        "imaging/study_share.html",
        {
            "view": view,
            "form": form,
            "rows": rows,
            "error": error,
            "may_send": may_send and not shared_with_me,
            "policy_refuses": not may_send,
        },
        status=403 if error and not may_send else status,
    )


@login_required
@require_GET
@not_found_as_404
def deidentify_job(request: HttpRequest, job_id: int) -> HttpResponseBase:
    """The sender follows the making of the copy (htmx polls this page); once made, on
    to the transfer (recipients, then send) or to the link page of the copy's folder."""
    me = signed_in_user(request)
    job = selectors.deidentify_job_get_for_actor(actor=me, job_id=job_id)
    if job.status == JobStatus.DONE:
        _job_messages(request, job)
        if job.transfer_id is not None:
            target = reverse("sharing:transfer", kwargs={"transfer_id": job.transfer_id})
        elif job.folder_id is not None and job.send_as != SEND_TRANSFER:
            target = reverse("sharing:folder_links", kwargs={"folder_id": job.folder_id})
        else:
            target = reverse("files:folder", kwargs={"folder_id": job.folder_id})
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    return render(request, "imaging/deidentify_job.html", {"job": job})
