from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

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
    return render(request, "home.html")


@login_required
def platform_status(request: HttpRequest) -> HttpResponse:
    """htmx fragment for the home page's status card."""
    checks = [
        {"name": name, "label": label, "status": health.check_run(name).status}
        for name, label in _CHECK_LABELS.items()
    ]
    return render(request, "includes/platform_status.html", {"checks": checks})
