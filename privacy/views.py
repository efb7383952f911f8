"""GDPR pages: HTTP only. Reads in selectors, export and erasure in services.

Who exports: the person themselves, from /privacy/ (the right of access is theirs, and
nobody else then reads the names of their files), and a site administrator for a
person who can no longer sign in (a leaver's request reaches the DPO). Who erases: a
site administrator, and only a deactivated account's content.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.permissions import signed_in_user, site_admin_required
from accounts.reauth import recent_proof_required
from privacy import selectors, services
from privacy.forms import ErasureConfirmForm


def _zip_response(*, actor: User, person: User) -> StreamingHttpResponse:
    archive = services.personal_data_export(actor=actor, person=person)
    response = StreamingHttpResponse(archive, content_type="application/zip")
    stamp = f"{person.pk}"
    response["Content-Disposition"] = f'attachment; filename="securedrive-data-{stamp}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/my_data.html", {"person": signed_in_user(request)})


@require_GET
@login_required
def my_data_export(request: HttpRequest) -> StreamingHttpResponse:
    user = signed_in_user(request)
    return _zip_response(actor=user, person=user)


@require_GET
@site_admin_required
def person_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    people = User.objects.order_by("email")
    people = people.filter(email__icontains=query) if query else people.filter(is_active=False)
    return render(request, "privacy/person_list.html", {"people": people[:100], "query": query})


def _person(request: HttpRequest, person_id: int) -> User:
    person = selectors.person_for_actor(actor=signed_in_user(request), person_id=person_id)
    if person is None:
        raise Http404
    return person


@require_GET
@site_admin_required
def person_detail(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    return render(
        request,
        "privacy/person_detail.html",
        {
            "person": person,
            "erasable_files": selectors.person_erasable_files(person).count(),
            "exportable": not services.export_for_other_refusal(
                actor=signed_in_user(request), person=person
            ),
            "form": ErasureConfirmForm(),
        },
    )


@require_GET
@site_admin_required
@recent_proof_required()  # someone else's personal data, in one file
def person_export(request: HttpRequest, person_id: int) -> HttpResponse:
    actor, person = signed_in_user(request), _person(request, person_id)
    refusal = services.export_for_other_refusal(actor=actor, person=person)
    if refusal:
        services.personal_data_export_refused(actor=actor, person_id=person.pk, reason=refusal)
        raise PermissionDenied
    # Typed as HttpResponse for site_admin_required; the body streams all the same.
    response: Any = _zip_response(actor=actor, person=person)
    return cast(HttpResponse, response)


@require_POST
@site_admin_required
@recent_proof_required()
def person_erase(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    form = ErasureConfirmForm(request.POST)
    if form.is_valid():
        try:
            report = services.person_content_erase(
                actor=signed_in_user(request),
                person=person,
                confirmation=form.cleaned_data["confirmation"],
            )
        except services.ErasureRefused as error:
            form.add_error("confirmation", str(error))
        else:
            messages.success(
                request,
                _("Files of %(name)s erased: %(files)s, %(versions)s.")
                % {
                    "name": person.get_full_name(),
                    "files": ngettext(
                        "%(count)d file erased", "%(count)d files erased", report.files
                    )
                    % {"count": report.files},
                    "versions": ngettext(
                        "%(count)d version key destroyed",
                        "%(count)d version keys destroyed",
                        report.versions_shredded,
                    )
                    % {"count": report.versions_shredded},
                },
            )
            return redirect("privacy:person", person_id=person.pk)
    return render(
        request,
        "privacy/person_detail.html",
        {
            "person": person,
            "erasable_files": selectors.person_erasable_files(person).count(),
            "exportable": not services.export_for_other_refusal(
                actor=signed_in_user(request), person=person
            ),
            "form": form,
        },
        status=400,
    )
