"""SCIM filters (RFC 7644 §3.4.2.2) as Django queries, with scim2-filter-parser's
grammar and its Q-object transpiler. An attribute we do not know is a 400
``invalidFilter``, never silently ignored (the transpiler would drop it, and ``and``
would widen the result). String values are JSON strings, read as JSON reads them (the
parser's own lexer does not: see ``_JsonStringLexer``)."""

from __future__ import annotations

import json
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


class _QuotedString(str):
    """A comparison value the filter wrote between quotes: ``"true"`` and ``"null"``
    stay words (the transpiler reads a bare ``true`` and a quoted one alike)."""


# RFC 8259 §7: quotes around characters other than ``"``, ``\\`` and controls, or escapes.
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'


class _JsonStringLexer(SCIMLexer):  # type: ignore[misc]
    """scim2-filter-parser's lexer, with RFC 7644 §3.4.2.2's string values: a JSON string
    (RFC 8259 §7). Its own rule, ``"[^"]*"``, ended a value at an escaped quote
    (``userName eq "o\\"brien"`` was a 400) and kept escapes as written (``"CHU\\\\jdoe"``
    looked for two backslashes): the directory found nobody, created the person again
    and got 409 for ever. A malformed string (unknown escape, unterminated) matches no
    token: the lexer's error, a 400 ``invalidFilter``."""

    tokens = SCIMLexer.tokens

    # sly puts ``_`` (its rule decorator) in the class body's namespace.
    @_(_JSON_STRING)  # type: ignore[name-defined,untyped-decorator]  # noqa: F821
    def COMP_VALUE(self, token: Any) -> Any:
        token.value = _QuotedString(json.loads(token.value))
        return token


class _StrictTranspiler(Transpiler):  # type: ignore[misc]
    def visit_CompValue(self, node: Any) -> Any:
        if isinstance(node.value, _QuotedString):
            return str(node.value)
        return super().visit_CompValue(node)

    def visit_AttrPath(self, node: Any) -> Any:
        field = super().visit_AttrPath(node)
        if field is None:
            name = node.attr_name if isinstance(node.attr_name, str) else "?"
            raise ScimError(400, f"Cannot filter on “{name}”", "invalidFilter")
        return field


def filter_query(text: str, attr_map: AttrMap) -> Q:
    try:
        tree = SCIMParser().parse(_JsonStringLexer().tokenize(text))
        query = _StrictTranspiler(attr_map).transpile(tree)
    except ScimError:
        raise
    except Exception as error:  # the lexer and parser raise bare exceptions
        raise ScimError(400, "The filter is not valid SCIM", "invalidFilter") from error
    if not isinstance(query, Q):
        raise ScimError(400, "The filter is not valid SCIM", "invalidFilter")
    return query
