from django.urls import path, re_path

from directory.scim import views

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
