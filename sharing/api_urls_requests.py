"""REST API for requests (included by sharing/api_urls.py, namespace "sharing_api")."""

from django.urls import URLPattern, URLResolver, path

from sharing import api_requests

urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/", api_requests.FileRequestListView.as_view(), name="requests"),
    path("requests/<int:request_id>/", api_requests.FileRequestView.as_view(), name="request"),
    path(
        "requests/<int:request_id>/close/",
        api_requests.FileRequestCloseView.as_view(),
        name="request_close",
    ),
]
