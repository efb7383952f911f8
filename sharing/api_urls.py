"""Sharing REST API, under /api/v1/sharing/ (docs/api.md)."""

from sharing import api_urls_links, api_urls_requests, api_urls_shares, api_urls_transfers

app_name = "sharing_api"

urlpatterns = [
    *api_urls_shares.urlpatterns,
    *api_urls_links.urlpatterns,
    *api_urls_transfers.urlpatterns,
    *api_urls_requests.urlpatterns,
]
