from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt


class _Views:
    """The SCIM views, imported on the first SCIM request rather than when the URLs load:
    scim2-models brings pydantic (~12 MiB), which a web worker serving files never needs
    (its peak RSS stays under 150 MiB, tests/test_files_large.py)."""

    def __getattr__(self, name: str) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            from directory.scim import views as loaded

            handler: Callable[..., HttpResponse] = getattr(loaded, name)
            return handler(request, *args, **kwargs)

        view.__name__ = view.__qualname__ = name
        view.__module__ = "directory.scim.views"
        return view


views = _Views()

app_name = "scim"

# RFC 7644 §3.2: endpoints without a trailing slash.
urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config, name="service_provider_config"),
    path("ResourceTypes", views.resource_types, name="resource_types"),
    path("ResourceTypes/<str:name>", views.resource_type, name="resource_type"),
    path("Schemas", views.schemas, name="schemas"),
    path("Schemas/<str:schema_id>", views.schema, name="schema"),
    path(".search", views.search_everything, name="search"),
    path("Users/.search", views.user_search, name="user_search"),
    path("Groups/.search", views.group_search, name="group_search"),
    path("Users", views.user_list, name="users"),
    path("Users/<str:user_id>", views.user_detail, name="user"),
    path("Groups", views.group_list, name="groups"),
    path("Groups/<str:group_id>", views.group_detail, name="group"),
    re_path(r"^.*$", views.unknown, name="unknown"),
]
