"""HTTP for SCIM 2.0 (RFC 7644): bearer token, JSON in and out, errors as SCIM errors.

Thin: each view parses, calls directory/scim/users.py or groups.py, and answers. Every
4xx is a SCIM error body (``status``, ``scimType`` where RFC 7644 §3.12 names one) and
an audit event; never a 500 for what a client sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import FieldError, ValidationError
from django.db import DataError, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip, context_from_request
from audit.models import Outcome
from core.http import DuplicateKeyError, json_document
from core.ratelimit import address_counted, rate_limit_check
from directory.models import DirectoryToken
from directory.scim import discovery, filters, groups, users
from directory.scim.errors import ScimError, not_found, precondition_failed
from directory.tokens import directory_token_authenticate, token_label

CONTENT_TYPE = "application/scim+json"
MAX_BODY_BYTES = 1024 * 1024
CONTENT_LENGTH_SYNTAX = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit takes "²"
DEFAULT_COUNT = 100
# Requests without a valid token, per address: each one is a refusal in the audit log,
# so an unlimited flood from anyone on the network was an unlimited stream of audit
# rows. The API's anonymous rate (REST_FRAMEWORK "anon"); a directory with its token
# is never counted here.
ANONYMOUS_RATE = "60/60s"

ScimView = Callable[..., HttpResponse]
# A user or a team (directory/scim/users.py, groups.py), as its module loads it.
Resource = TypeVar("Resource")


def _json(body: Any, status: int = 200, etag: str = "") -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    if etag:
        response["ETag"] = etag
    response["Cache-Control"] = "no-store"
    return response


def _refused(request: HttpRequest, error: ScimError, token: DirectoryToken | None) -> HttpResponse:
    audit.record(
        action=Action.DIRECTORY_REQUEST_REFUSE,
        outcome=Outcome.DENIED,
        actor=None,
        actor_label=token_label(token) if token else "directory (no valid token)",
        target_type="directory.scim",
        target_id=request.path[:200],
        details={
            "method": request.method,
            "status": error.status,
            "scim_type": error.scim_type,
            # Ours whole (the longest, a refused rehire, is about 320 characters); a
            # library's may quote what was sent.
            "detail": error.detail[:500],
            **error.subject,
        },
        request=context_from_request(request),
    )
    response = _json(error.body(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="SecureDrive SCIM"'
    return response


def scim_endpoint(*methods: str) -> Callable[[ScimView], ScimView]:
    """Bearer token, allowed methods, JSON body, SCIM errors."""

    def decorator(view: ScimView) -> ScimView:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token: DirectoryToken | None = None
            try:
                header = request.headers.get("Authorization", "")
                scheme, _space, raw = header.partition(" ")
                if scheme.lower() == "bearer":
                    token = directory_token_authenticate(
                        raw.strip(), request=context_from_request(request)
                    )
                if token is None:
                    _anonymous_limit(request)
                    raise ScimError(401, "A valid directory token is required")
                if request.method not in methods:
                    raise ScimError(405, f"{request.method} is not supported here")
                body: dict[str, Any] = {}
                if request.method in {"POST", "PUT", "PATCH"}:
                    body = _body(request)
                return view(request, *args, token=token, body=body, **kwargs)
            except _Limited as error:
                response = _json(error.body(), status=429)
                response["Retry-After"] = str(error.retry_after)
                return response
            except ScimError as error:
                return _refused(request, error, token)

        return wrapper

    return decorator


class _Limited(ScimError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "Too many requests without a valid directory token")
        self.retry_after = retry_after


def _anonymous_limit(request: HttpRequest) -> None:
    """Past ANONYMOUS_RATE, a 429 recorded once per address and window, then counted
    (audit/floods.py), instead of one refusal per request."""
    address = client_ip(request)
    counted = address_counted(address)  # an IPv6 client's /64 is one client
    verdict = rate_limit_check(
        group="scim.anonymous", key=counted, rate=ANONYMOUS_RATE, fail_open=True
    )
    if not verdict.limited:
        return
    floods.rate_limited_record(
        endpoint="scim",
        source=counted,
        ip_address=address,
        actor_label="directory (no valid token)",
        record=lambda flood: audit.record(
            action=Action.RATELIMIT_API,
            outcome=Outcome.DENIED,
            actor=None,
            actor_label="directory (no valid token)",
            details={
                "limit": "scim.anonymous",
                "rate": ANONYMOUS_RATE,
                "retry_after": math.ceil(verdict.retry_after),
                "view": "scim",
                "method": request.method or "",
                **flood,
            },
            request=context_from_request(request),
        ),
    )
    raise _Limited(max(1, math.ceil(verdict.retry_after)))


def _content_length(request: HttpRequest) -> int:
    """The body's announced length: digits only (RFC 9110 §8.6, ``1*DIGIT``), or none.
    Anything else ("abc", "-1", "+5", "1_000", which ``int()`` would read or raise on)
    is the client's mistake, a 400 on record, not a 500."""
    announced = request.META.get("CONTENT_LENGTH") or ""
    if not announced:
        return 0
    if not CONTENT_LENGTH_SYNTAX.fullmatch(announced):
        raise ScimError(400, "The Content-Length header must be a number of bytes", "invalidSyntax")
    return int(announced)


def _body(request: HttpRequest) -> dict[str, Any]:
    if _content_length(request) > MAX_BODY_BYTES:
        raise ScimError(413, "The request body is too large")
    try:
        body = json_document(request.body or b"{}")
    except DuplicateKeyError as error:
        raise ScimError(
            400,
            f"The body gives “{error.key[:40]}” twice in one object: send each attribute once",
            "invalidSyntax",
        ) from error
    except ValueError as error:
        raise ScimError(400, "The body is not JSON", "invalidSyntax") from error
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object", "invalidSyntax")
    return body


def _check_if_match(request: HttpRequest, current: dict[str, Any]) -> None:
    """RFC 7644 §3.14: a change with If-Match applies only to that version (412)."""
    wanted = request.headers.get("If-Match")
    if wanted is None or wanted.strip() == "*":
        return
    versions = {v.strip() for v in wanted.split(",")}
    if current["meta"]["version"] not in versions:
        raise precondition_failed()


Params = Mapping[str, str]


def _shaped(params: Params, body: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5), top-level names."""

    def names(parameter: str) -> set[str]:
        text = params.get(parameter, "")
        return {
            part.strip().split(":")[-1].split(".")[0].lower()
            for part in text.split(",")
            if part.strip()
        }

    always = {"schemas", "id", "meta"}
    wanted, excluded = names("attributes"), names("excludedAttributes")
    if wanted:
        return {k: v for k, v in body.items() if k in always or k.lower() in wanted}
    if excluded:
        return {k: v for k, v in body.items() if k in always or k.lower() not in excluded}
    return body


def _integer(params: Params, name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as error:
        raise ScimError(400, f"{name} must be an integer", "invalidValue") from error


def _list(
    params: Params,
    queryset: Any,
    attr_map: filters.AttrMap,
    represent: Callable[[Any], dict[str, Any]],
) -> HttpResponse:
    text = str(params.get("filter") or "").strip()
    start = max(1, _integer(params, "startIndex", 1))
    count = min(max(0, _integer(params, "count", DEFAULT_COUNT)), discovery.MAX_RESULTS)
    try:
        with transaction.atomic():  # a refused comparison must not break the request
            if text:
                queryset = queryset.filter(filters.filter_query(text, attr_map)).distinct()
            total = queryset.count()
            # Past the end: an empty page (RFC 7644 §3.4.2.4), never an OFFSET beyond
            # what PostgreSQL's bigint holds.
            wanted = count and start <= total
            page = list(queryset[start - 1 : start - 1 + count]) if wanted else []
    except (FieldError, ValidationError, ValueError, DataError) as error:
        # A comparison the attribute's type cannot make (active eq "maybe"...).
        raise ScimError(
            400, "The filter compares a value of the wrong type", "invalidFilter"
        ) from error
    return _json(
        {
            "schemas": [discovery.LIST_SCHEMA],
            "totalResults": total,
            "itemsPerPage": len(page),
            "startIndex": start,
            "Resources": [_shaped(params, represent(item)) for item in page],
        }
    )


# --- Discovery -----------------------------------------------------------------------------


def _all_in_one_page(found: list[dict[str, Any]]) -> HttpResponse:
    """A ListResponse (RFC 7644 §3.4.2) of every resource there is, in one page: the
    discovery endpoints have a handful, never filtered or paged (§4)."""
    return _json(
        {
            "schemas": [discovery.LIST_SCHEMA],
            "totalResults": len(found),
            "itemsPerPage": len(found),
            "startIndex": 1,
            "Resources": found,
        }
    )


@scim_endpoint("GET")
def service_provider_config(request: HttpRequest, **_: Any) -> HttpResponse:
    return _json(discovery.service_provider_config())


@scim_endpoint("GET")
def resource_types(request: HttpRequest, **_: Any) -> HttpResponse:
    return _all_in_one_page(discovery.resource_types())


@scim_endpoint("GET")
def resource_type(request: HttpRequest, name: str, **_: Any) -> HttpResponse:
    for found in discovery.resource_types():
        if found["id"] == name:
            return _json(found)
    raise not_found("ResourceType")


@scim_endpoint("GET")
def schemas(request: HttpRequest, **_: Any) -> HttpResponse:
    return _all_in_one_page(discovery.schemas())


@scim_endpoint("GET")
def schema(request: HttpRequest, schema_id: str, **_: Any) -> HttpResponse:
    for found in discovery.schemas():
        if found["id"] == schema_id:
            return _json(found)
    raise not_found("Schema")


# --- Users -----------------------------------------------------------------------------------


def _created(resource: dict[str, Any]) -> HttpResponse:
    """201 with the new resource, its version as ETag and its address (RFC 7644 §3.3)."""
    response = _json(resource, status=201, etag=resource["meta"]["version"])
    response["Location"] = resource["meta"]["location"]
    return response


def _resource_detail(
    request: HttpRequest,
    *,
    load: Callable[[], Resource],
    representation: Callable[[Resource], dict[str, Any]],
    delete: Callable[[Resource], None],
    replace: Callable[[Resource], Resource],
    patch: Callable[[Resource], Resource],
    subject: Callable[[Resource], dict[str, str]],
) -> HttpResponse:
    """One resource read (RFC 7644 §3.4.1), replaced (§3.5.1), patched (§3.5.2) or
    deleted (§3.6): read and changed in one transaction, a change only when If-Match
    names the version just read (§3.14), the answer with the new version as ETag. A
    refused change names the resource (``subject``) in its audit event."""
    with transaction.atomic():
        resource = load()
        current = representation(resource)
        if request.method == "GET":
            return _json(_shaped(request.GET, current), etag=current["meta"]["version"])
        try:
            _check_if_match(request, current)
            if request.method == "DELETE":
                delete(resource)
                return HttpResponse(status=204)
            resource = replace(resource) if request.method == "PUT" else patch(resource)
        except ScimError as error:
            error.subject = subject(resource)
            raise
    changed = representation(resource)
    return _json(_shaped(request.GET, changed), etag=changed["meta"]["version"])


@scim_endpoint("GET", "POST")
def user_list(request: HttpRequest, *, token: DirectoryToken, body: dict[str, Any]) -> HttpResponse:
    if request.method == "POST":
        return _created(users.user_representation(users.user_create(token=token, body=body)))
    return _list(
        request.GET, users.users_visible(), filters.USER_FILTERS, users.user_representation
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user_detail(
    request: HttpRequest, user_id: str, *, token: DirectoryToken, body: dict[str, Any]
) -> HttpResponse:
    return _resource_detail(
        request,
        load=lambda: users.user_get(user_id),
        representation=users.user_representation,
        delete=lambda user: users.user_delete(token=token, user=user),
        replace=lambda user: users.user_replace(token=token, user=user, body=body),
        patch=lambda user: users.user_patch(token=token, user=user, body=body),
        subject=lambda user: {"user": users.user_label(user)},
    )


# --- Groups ----------------------------------------------------------------------------------


@scim_endpoint("GET", "POST")
def group_list(
    request: HttpRequest, *, token: DirectoryToken, body: dict[str, Any]
) -> HttpResponse:
    if request.method == "POST":
        return _created(groups.group_representation(groups.group_create(token=token, body=body)))
    return _list(
        request.GET, groups.groups_visible(), filters.GROUP_FILTERS, groups.group_representation
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group_detail(
    request: HttpRequest, group_id: str, *, token: DirectoryToken, body: dict[str, Any]
) -> HttpResponse:
    return _resource_detail(
        request,
        load=lambda: groups.group_get(group_id),
        representation=groups.group_representation,
        delete=lambda team: groups.group_delete(token=token, team=team),
        replace=lambda team: groups.group_replace(token=token, team=team, body=body),
        patch=lambda team: groups.group_patch(token=token, team=team, body=body),
        subject=lambda team: {"team": team.name},
    )


# --- Searching by POST (RFC 7644 §3.4.3) and what is not here ---------------------------


def _search_params(body: dict[str, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in ("filter", "startIndex", "count", "attributes", "excludedAttributes"):
        value = body.get(name)
        if isinstance(value, list):
            params[name] = ",".join(str(part) for part in value)
        elif value is not None:
            params[name] = str(value)
    return params


@scim_endpoint("POST")
def user_search(
    request: HttpRequest, *, token: DirectoryToken, body: dict[str, Any]
) -> HttpResponse:
    return _list(
        _search_params(body), users.users_visible(), filters.USER_FILTERS, users.user_representation
    )


@scim_endpoint("POST")
def group_search(
    request: HttpRequest, *, token: DirectoryToken, body: dict[str, Any]
) -> HttpResponse:
    return _list(
        _search_params(body),
        groups.groups_visible(),
        filters.GROUP_FILTERS,
        groups.group_representation,
    )


@scim_endpoint("POST")
def search_everything(request: HttpRequest, **_: Any) -> HttpResponse:
    """RFC 7644 §3.4.3 lets a provider decline searching several types at once."""
    raise ScimError(501, "Search /Users/.search or /Groups/.search")


@scim_endpoint("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request: HttpRequest, **_: Any) -> HttpResponse:
    """Any other path under /scim/v2/: a SCIM 404, not the site's HTML page."""
    raise not_found("Endpoint")
