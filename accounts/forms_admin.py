"""Forms of the administration pages (users, teams, invitations, policy)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountPolicy, Team, TeamRole, User
from accounts.offboarding import successor_candidates
from core.forms import BootstrapFormMixin


class InvitationForm(BootstrapFormMixin, forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"), queryset=Team.objects.all(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    grants_site_admin = forms.BooleanField(label=_("Site administrator"), required=False)
    grants_auditor = forms.BooleanField(label=_("Auditor"), required=False)


class RolesForm(BootstrapFormMixin, forms.Form):
    is_site_admin = forms.BooleanField(label=_("Site administrator"), required=False)
    is_auditor = forms.BooleanField(label=_("Auditor"), required=False)


class RoleDecisionForm(BootstrapFormMixin, forms.Form):
    confirm = forms.BooleanField(
        label=_("I have checked that this person should have this role"), required=True
    )


class CredentialDecisionForm(BootstrapFormMixin, forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I have checked with the person, other than by e-mail (in person, by phone on a "
            "number I already had), that the new address is theirs"
        ),
        required=True,
    )


class SuccessorChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """“Claire Martin — claire@… · manager of Cardiologie”: names and roles, so the
    admin picks a person, not an address."""

    def label_from_instance(self, obj: Any) -> str:
        roles = [
            str(_("manager of %(team)s") % {"team": m.team.name})
            if m.role == TeamRole.MANAGER
            else m.team.name
            for m in obj.memberships.all()
        ]
        if obj.is_site_admin:
            roles.insert(0, str(_("site administrator")))
        label = f"{obj.get_full_name()} — {obj.email}" if obj.full_name else obj.email
        return f"{label} · {', '.join(roles)}" if roles else label


class DeactivationForm(BootstrapFormMixin, forms.Form):
    WHEN_NOW = "now"
    WHEN_LATER = "later"
    when = forms.ChoiceField(
        label=_("When"),
        choices=[(WHEN_NOW, _("Now")), (WHEN_LATER, _("On a departure date"))],
        initial=WHEN_NOW,
        widget=forms.RadioSelect,
    )
    departure_on = forms.DateField(
        label=_("Departure date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    successor = SuccessorChoiceField(
        label=_("Give their personal files to"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody: keep them for the retention period"),
    )

    def __init__(self, *args: Any, subject: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Never an auditor nor an inactive account (accounts.offboarding).
        self.fields["successor"].queryset = successor_candidates(  # type: ignore[attr-defined]
            leaver=subject
        ).prefetch_related("memberships__team")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("when") == self.WHEN_LATER:
            departure_on = cleaned.get("departure_on")
            if departure_on is None or departure_on <= timezone.localdate():
                self.add_error("departure_on", _("Choose a date in the future."))
        return cleaned


class TeamForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)


class TeamMemberForm(BootstrapFormMixin, forms.Form):
    user = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=TeamRole.choices, initial=TeamRole.MEMBER)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(is_active=True).order_by("email")  # type: ignore[attr-defined]


class PolicyForm(BootstrapFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = AccountPolicy
        fields = [
            "session_idle_minutes",
            "session_max_hours",
            "login_notification",
            "invitation_valid_hours",
            "token_max_days",
            "personal_files_retention_days",
        ]

    def clean_session_idle_minutes(self) -> int:
        value: int = self.cleaned_data["session_idle_minutes"]
        if not 1 <= value <= 24 * 60:
            raise forms.ValidationError(_("Between 1 minute and 24 hours."))
        return value

    def clean_session_max_hours(self) -> int:
        value: int = self.cleaned_data["session_max_hours"]
        if not 1 <= value <= 7 * 24:
            raise forms.ValidationError(_("Between 1 hour and 7 days."))
        return value
