"""Sharing REST API, under /api/v1/sharing/ (docs/api.md)."""

from sharing.urls import file_requests, links, shares, transfers

app_name = "sharing_api"

urlpatterns = [
    *shares.api_urlpatterns,
    *links.api_urlpatterns,
    *transfers.api_urlpatterns,
    *file_requests.api_urlpatterns,
]
