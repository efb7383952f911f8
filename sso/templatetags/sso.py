"""``{% sso_buttons %}``: one "Sign in with <provider>" button per configured provider;
``{% sso_invitation_buttons token %}``: one "Accept with <provider>" per provider on an
invitation's page (the token goes with the form, never into another address)."""

from __future__ import annotations

from typing import Any

from django import template

from sso.providers import providers_configured

register = template.Library()


@register.inclusion_tag("sso/buttons.html", takes_context=True)
def sso_buttons(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    next_url = request.GET.get("next", "") if request is not None else ""
    return {"providers": providers_configured(), "next": next_url}


@register.inclusion_tag("sso/invitation_buttons.html")
def sso_invitation_buttons(token: str) -> dict[str, Any]:
    return {"providers": providers_configured(), "token": token}
