"""Signed-in pages for requests (included by sharing/urls.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver, path

from sharing import views_requests

urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/", views_requests.request_list, name="requests"),
    path("requests/new/", views_requests.request_new, name="request_new"),
    path("requests/<int:request_id>/", views_requests.request_detail, name="request"),
    path("requests/<int:request_id>/close/", views_requests.request_close, name="request_close"),
]
