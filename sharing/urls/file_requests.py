"""Pages (``urlpatterns``, included by sharing/urls/browser.py, namespace "sharing") and
REST API (``api_urlpatterns``, included by sharing/urls/api.py, namespace "sharing_api")
for file requests."""

from django.urls import URLPattern, URLResolver, path

from sharing.api import file_requests as api
from sharing.views import file_requests as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_new, name="request_new"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("requests/<int:request_id>/close/", views.request_close, name="request_close"),
]

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/", api.FileRequestListView.as_view(), name="requests"),
    path("requests/<int:request_id>/", api.FileRequestView.as_view(), name="request"),
    path(
        "requests/<int:request_id>/close/",
        api.FileRequestCloseView.as_view(),
        name="request_close",
    ),
]
