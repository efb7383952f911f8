"""SCIM filters (RFC 7644 §3.4.2.2) as Django queries, with scim2-filter-parser's
grammar and its Q-object transpiler. An attribute we do not know is a 400
``invalidFilter``, never silently ignored (the transpiler would drop it, and ``and``
would widen the result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from directory.scim.errors import ScimError

AttrMap = Mapping[tuple[str, str | None, str | None], str]

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group"


def _with_urn(attr_map: dict[tuple[str, str | None], str], urn: str) -> AttrMap:
    full: dict[tuple[str, str | None, str | None], str] = {}
    for (name, sub), field in attr_map.items():
        full[(name, sub, None)] = field
        full[(name, sub, urn)] = field
    return full


# Fields of the annotated querysets in directory/scim/users.py and groups.py.
USER_FILTERS = _with_urn(
    {
        ("id", None): "scim_id",
        ("userName", None): "scim_user_name",
        ("externalId", None): "directory_account__external_id",
        ("displayName", None): "scim_display_name",
        ("active", None): "is_active",
        ("emails", None): "email",
        ("emails", "value"): "email",
        ("name", "formatted"): "full_name",
    },
    USER_URN,
)
GROUP_FILTERS = _with_urn(
    {
        ("id", None): "scim_id",
        ("displayName", None): "name",
        ("externalId", None): "directory_group__external_id",
        ("members", None): "memberships__user__id",
        ("members", "value"): "memberships__user__id",
    },
    GROUP_URN,
)


class _StrictTranspiler(Transpiler):  # type: ignore[misc]
    def visit_AttrPath(self, node: Any) -> Any:
        field = super().visit_AttrPath(node)
        if field is None:
            name = node.attr_name if isinstance(node.attr_name, str) else "?"
            raise ScimError(400, f"Cannot filter on “{name}”", "invalidFilter")
        return field


def filter_query(text: str, attr_map: AttrMap) -> Q:
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
        query = _StrictTranspiler(attr_map).transpile(tree)
    except ScimError:
        raise
    except Exception as error:  # the lexer and parser raise bare exceptions
        raise ScimError(400, "The filter is not valid SCIM", "invalidFilter") from error
    if not isinstance(query, Q):
        raise ScimError(400, "The filter is not valid SCIM", "invalidFilter")
    return query
