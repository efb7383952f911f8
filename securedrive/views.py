from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework.exceptions import APIException, NotFound
from rest_framework.exceptions import PermissionDenied as PermissionDeniedAPI

from accounts.permissions import signed_in_user, site_admin_required
from audit.refusals import csrf_refusal_record
from core.errors import RuleError
from files import favourites
from securedrive import health

_CHECK_LABELS = {
    "database": _("Database"),
    "broker": _("Task queue"),
    "cache": _("Shared cache"),
    "worker": _("Background tasks"),
    "storage": _("Encrypted storage"),
    "scanner": _("Virus scanner"),
    "processes": _("Server processes"),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """What a clinician comes back to: their starred items and the files changed last.
    The platform's status (database, queue, scanner) is for site administrators only,
    who also see it here; /healthz stays for monitoring."""
    me = signed_in_user(request)
    context = {
        "favourites": favourites.favourites_for(actor=me),
        "recent_files": favourites.recent_files_for(actor=me),
    }
    return render(request, "home.html", context)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form refused by the check against forged cross-site
    requests leaves an event (a page of another site trying to create a link or delete a
    file in a signed-in clinician's name is an attack worth seeing) and the person reads
    what to do, in the site's layout and language."""
    csrf_refusal_record(request, reason=reason)
    return render(request, "403_csrf.html", status=403)


@site_admin_required
def platform_status(request: HttpRequest) -> HttpResponse:
    """htmx fragment for the status card site administrators see on the home page."""
    results = health.health_results()  # the round /healthz shares, not another one
    checks = [
        {"name": name, "label": label, "status": results[name].status}
        for name, label in _CHECK_LABELS.items()
    ]
    return render(request, "includes/platform_status.html", {"checks": checks})


# --- Error pages: JSON under /api/ (docs/api.md, "Errors") ---------------------------------
# An address no API view answers (a mistyped path, a version id that is not a UUID)
# never reaches the REST framework, so Django's handlers answer it: an integrator's
# client must get the same ``{"detail": ...}`` as from any API view, not an HTML page.


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403: the site's page, saying why when the refusal carries a message meant for the
    person (a ``RuleError``: an auditor's access to a team's files suspended, say);
    Django's other refusals keep the page's general text. JSON under /api/."""
    message = str(exception) if isinstance(exception, RuleError) else ""
    if _is_api(request):
        detail = message or str(PermissionDeniedAPI.default_detail)
        return JsonResponse({"detail": detail}, status=403)
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": str(APIException.default_detail)}, status=500)
    return defaults.server_error(request)
