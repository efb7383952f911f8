"""``{% sso_buttons %}``: one "Sign in with <provider>" button per configured provider;
``{% sso_invitation_buttons token %}``: one "Accept with <provider>" per provider on an
invitation's page (the token goes with the form, never into another address);
``{% sso_reauth_buttons user next resubmit %}``: "Confirm with <provider>" on the
confirmation pages; ``{% sso_sign_in_again provider %}``: "Sign in again with
<provider>" where a sign-in without the second factor it stands for was refused;
``{% sso_identities user %}`` and
``{% sso_account_link_card subject %}``: the providers linked to an account, on the
person's security page and on an administrator's page."""

from __future__ import annotations

from typing import Any

from django import template

from sso.csp import provider_form_targets
from sso.models import AccountLinkRequest, ExternalIdentity
from sso.providers import Provider, provider_get, providers_configured

register = template.Library()


@register.inclusion_tag("sso/buttons.html", takes_context=True)
def sso_buttons(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    next_url = request.GET.get("next", "") if request is not None else ""
    return {"providers": providers_configured(), "next": next_url}


@register.inclusion_tag("sso/invitation_buttons.html", takes_context=True)
def sso_invitation_buttons(context: dict[str, Any], token: str) -> dict[str, Any]:
    providers = providers_configured()
    provider_form_targets(context.get("request"), providers)
    return {"providers": providers, "token": token}


def _identities_of(user: Any) -> list[dict[str, Any]]:
    names = {provider.issuer: provider.name for provider in providers_configured()}
    return [
        {"identity": identity, "provider_name": names.get(identity.issuer, identity.name)}
        for identity in ExternalIdentity.objects.filter(user=user, confirmed=True).order_by(
            "linked_at"
        )
    ]


@register.inclusion_tag("sso/reauth_buttons.html", takes_context=True)
def sso_reauth_buttons(
    context: dict[str, Any], user: Any, next_url: str = "", resubmit: bool = False
) -> dict[str, Any]:
    """ "Confirm with <provider>" on the confirmation pages (sso/reauth.py): one per
    provider the person's account is linked to."""
    configured = {provider.slug: provider for provider in providers_configured()}
    providers = [
        configured[identity.provider]
        for identity in ExternalIdentity.objects.filter(user=user, confirmed=True).order_by(
            "linked_at"
        )
        if identity.provider in configured
        and configured[identity.provider].issuer == identity.issuer
    ]
    provider_form_targets(context.get("request"), providers)
    return {"providers": providers, "next": next_url, "resubmit": resubmit}


@register.inclusion_tag("sso/sign_in_again.html", takes_context=True)
def sso_sign_in_again(context: dict[str, Any], provider: Provider | str) -> dict[str, Any]:
    """ "Sign in again with <provider>" (sso/views.py: sign_in_again): the provider, or
    its slug (an identity's ``provider``); nothing for a provider no longer configured."""
    configured = provider_get(provider) if isinstance(provider, str) else provider
    if configured is not None:
        provider_form_targets(context.get("request"), [configured])
    return {"provider": configured}


@register.inclusion_tag("sso/identities_card.html")
def sso_identities(user: Any) -> dict[str, Any]:
    """The person's own security page: which identity providers open this account."""
    return {"identities": _identities_of(user), "providers": providers_configured()}


@register.inclusion_tag("sso/account_link_card.html", takes_context=True)
def sso_account_link_card(context: dict[str, Any], subject: Any) -> dict[str, Any]:
    """An administrator's page for a person: linked identities, the pending link, and
    "Send a link to the identity provider" for the providers not linked yet."""
    identities = _identities_of(subject)
    linked = {row["identity"].issuer for row in identities}
    pending = next(
        (
            link_request
            for link_request in AccountLinkRequest.objects.filter(
                user=subject, used_at__isnull=True, revoked_at__isnull=True
            )
            if link_request.is_pending()
        ),
        None,
    )
    return {
        "subject": subject,
        "identities": identities,
        "pending": pending,
        "providers": [p for p in providers_configured() if p.issuer not in linked],
        "csrf_token": context.get("csrf_token"),
    }
