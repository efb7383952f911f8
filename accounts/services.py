from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from audit import services as audit


@dataclass(frozen=True)
class FirstAdmin:
    user: User
    created: bool
    setup_url: str | None  # None once the administrator has set a password


def setup_url_for(user: User) -> str:
    """A one-time link: it stops working once the password is set, or after 24 h."""
    path = reverse(
        "accounts:setup",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"


def first_admin_ensure(*, email: str) -> FirstAdmin:
    """Create the first site administrator when there is no user at all.

    No password is ever generated or printed: the administrator chooses one through a
    one-time set-up link.
    """
    with transaction.atomic():
        if User.objects.exists():
            admin = User.objects.filter(is_site_admin=True).order_by("pk").first()
            if admin is None or admin.has_usable_password():
                return FirstAdmin(
                    user=admin or User.objects.order_by("pk")[0], created=False, setup_url=None
                )
            return FirstAdmin(user=admin, created=False, setup_url=setup_url_for(admin))
        admin = User.objects.create_superuser(email)
        audit.record(
            action="accounts.first_admin.create",
            actor_label="system",
            target_type="accounts.user",
            target_id=admin.pk,
            details={"email": admin.email},
        )
    return FirstAdmin(user=admin, created=True, setup_url=setup_url_for(admin))
