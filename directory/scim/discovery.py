"""What the service provider publishes about itself (RFC 7644 §4): the configuration,
the resource types and the schemas, reduced to the attributes SecureDrive keeps, so a
directory (or a compliance checker) never sends what would be silently dropped."""

from __future__ import annotations

from typing import Any

from scim2_models import Group as ScimGroup
from scim2_models import User as ScimUser

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

USER_ATTRIBUTES = ("userName", "name", "displayName", "active", "emails", "groups")
GROUP_ATTRIBUTES = ("displayName", "members")
MAX_RESULTS = 200
# Where securedrive/urls.py mounts directory/scim/urls.py.
SCIM_PREFIX = "/scim/v2"


def base_url() -> str:
    from django.conf import settings

    return str(settings.SITE_URL).rstrip("/") + SCIM_PREFIX


# Attributes SecureDrive needs on every account, so marked required in the schema it
# publishes (RFC 7643 §7 lets a service provider say so): an account is an e-mail
# address, and whether it is active is never left to a default.
USER_REQUIRED = ("userName", "emails", "active")


def _schema(
    model: Any, keep: tuple[str, ...], location: str, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    schema: dict[str, Any] = model.to_schema().model_dump(exclude_none=True)
    schema["attributes"] = [a for a in schema["attributes"] if a["name"] in keep]
    for attribute in schema["attributes"]:
        if attribute["name"] in required:
            attribute["required"] = True
            for sub_attribute in attribute.get("subAttributes", []):
                if sub_attribute["name"] == "value":  # an e-mail entry is its address
                    sub_attribute["required"] = True
    for attribute in schema["attributes"]:
        if attribute["name"] == "members":
            # A member's name is the account's own, never what a directory sends: not
            # published, not returned (RFC 7643 §8.7.1 lists only value, $ref, type).
            attribute["subAttributes"] = [
                sub for sub in attribute.get("subAttributes", []) if sub["name"] != "display"
            ]
    schema["meta"] = {"resourceType": "Schema", "location": location}
    return schema


def schemas() -> list[dict[str, Any]]:
    base = base_url()
    return [
        _schema(ScimUser, USER_ATTRIBUTES, f"{base}/Schemas/{USER_SCHEMA}", USER_REQUIRED),
        _schema(ScimGroup, GROUP_ATTRIBUTES, f"{base}/Schemas/{GROUP_SCHEMA}"),
    ]


def resource_types() -> list[dict[str, Any]]:
    base = base_url()
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person who signs in to SecureDrive",
            "schema": USER_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team (its members share the team's space)",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config() -> dict[str, Any]:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://securedrive.example/docs/directory-scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Directory token",
                "description": "A bearer token a SecureDrive administrator creates "
                "(Administration, Directory).",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url()}/ServiceProviderConfig",
        },
    }
