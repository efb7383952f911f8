"""The scanning page of the administration: clamd's limits as clamd states them, and
the policy for files that cannot be scanned in one pass, per site and per team."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.models import Team
from accounts.permissions import signed_in_user, site_admin_required
from core.forms import BootstrapFormMixin
from files import scan_policy as policies
from files.models import ScanPolicyChoice

SAME_AS_SITE = "site"


class ScanPolicyForm(BootstrapFormMixin, forms.Form):
    site = forms.ChoiceField(
        label=gettext_lazy("Whole site"), choices=ScanPolicyChoice.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: object, teams: list[Team], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.teams = teams
        for team in teams:
            self.fields[f"team-{team.pk}"] = forms.ChoiceField(
                label=team.name,
                choices=[(SAME_AS_SITE, _("Same as the site")), *ScanPolicyChoice.choices],
                # Added after the mixin styled the form's own fields: styled here.
                widget=forms.Select(attrs={"class": "form-select"}),
            )


@site_admin_required
@require_http_methods(["GET", "POST"])
def scan_policy(request: HttpRequest) -> HttpResponse:
    teams = list(Team.objects.order_by("name"))
    own = policies.team_scan_policies()
    initial = {"site": policies.site_scan_policy()} | {
        f"team-{team.pk}": own.get(team.pk, SAME_AS_SITE) for team in teams
    }
    form = ScanPolicyForm(
        request.POST if request.method == "POST" else None, teams=teams, initial=initial
    )
    if request.method == "POST":
        if not form.is_valid():
            return render(
                request,
                "files/scan_policy.html",
                {"form": form, "scanner": policies.scanner_status(with_stats=True)},
                status=400,
            )
        actor = signed_in_user(request)
        site = ScanPolicyChoice(form.cleaned_data["site"])
        if site != initial["site"]:
            policies.site_scan_policy_set(actor=actor, policy=site, request=request)
        for team in teams:
            chosen = form.cleaned_data[f"team-{team.pk}"]
            policies.team_scan_policy_set(
                actor=actor,
                team=team,
                policy=None if chosen == SAME_AS_SITE else ScanPolicyChoice(chosen),
                request=request,
            )
        messages.success(request, _("Scanning policy saved."))
        return redirect("files:scan_policy")
    return render(
        request,
        "files/scan_policy.html",
        {"form": form, "scanner": policies.scanner_status(with_stats=True)},
    )
