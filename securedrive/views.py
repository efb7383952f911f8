from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from securedrive import health

_CHECK_LABELS = {
    "database": _("Database"),
    "broker": _("Task queue"),
    "worker": _("Background tasks"),
    "storage": _("Encrypted storage"),
    "scanner": _("Virus scanner"),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
def platform_status(request: HttpRequest) -> HttpResponse:
    """htmx fragment for the home page's status card."""
    checks = [
        {"name": name, "label": label, "status": check().status}
        for name, label, check in (
            ("database", _CHECK_LABELS["database"], health.database_check),
            ("broker", _CHECK_LABELS["broker"], health.broker_check),
            ("worker", _CHECK_LABELS["worker"], health.worker_check),
            ("storage", _CHECK_LABELS["storage"], health.storage_check),
            ("scanner", _CHECK_LABELS["scanner"], health.scanner_check),
        )
    ]
    return render(request, "includes/platform_status.html", {"checks": checks})
