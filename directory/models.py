"""The organisation's directory (HR, Entra ID, Keycloak…) provisions people and teams
through SCIM 2.0 (RFC 7643/7644, directory/scim/). What SecureDrive keeps of it: the
directory's tokens, and for each provisioned person and team the directory's own
identifiers and the attributes we echo back."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SuccessorRule(models.TextChoices):
    """Who receives a person's personal files when the directory deactivates them (the
    admin is not there to choose). A successor already named by an admin for a
    scheduled departure always wins; nobody eligible: the files are kept for the
    retention period."""

    TEAM_MANAGER = "team_manager", _("the manager of the person's team")
    NAMED = "named", _("a named account")
    TOKEN_CREATOR = "token_creator", _("the administrator who created the token")


class DirectoryToken(models.Model):
    """A bearer token for one directory. Only its SHA-256 is stored: the token carries
    256 random bits, so a fast hash is enough (as for API tokens, accounts/tokens.py)."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    successor_rule = models.CharField(
        _("personal files of a leaver go to"),
        max_length=20,
        choices=SuccessorRule.choices,
        default=SuccessorRule.TEAM_MANAGER,
    )
    successor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("named account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class DirectoryAccount(models.Model):
    """A person as the directory knows them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_account"
    )
    user_name = models.CharField(max_length=300, unique=True)
    external_id = models.CharField(max_length=300, blank=True, db_index=True)
    # What the directory sent and we echo back (RFC 7643 §4.1): the primary address is
    # also the account's e-mail.
    name = models.JSONField(default=dict, blank=True)
    emails = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # DELETE: the account is offboarded and no longer answers; the row stays for the
    # audit trail (a person's history is never deleted by a directory).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The directory's identifier of a person names one live account (checked
            # first in directory/scim/users.py for a clear message; this holds against
            # two requests at once). Case-exact, as RFC 7643 §3.1 says.
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(deleted_at__isnull=True) & ~Q(external_id=""),
                name="directory_account_external_id_once",
            )
        ]

    def __str__(self) -> str:
        return self.user_name


class DirectoryGroup(models.Model):
    """A team as the directory knows it."""

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, related_name="directory_group"
    )
    external_id = models.CharField(max_length=300, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # DELETE: the members leave the team and the group no longer answers; the team and
    # its files stay (a directory never destroys patient files).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(deleted_at__isnull=True) & ~Q(external_id=""),
                name="directory_group_external_id_once",
            )
        ]

    def __str__(self) -> str:
        return self.team.name
