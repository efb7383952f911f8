"""Signed-in sharing pages, under /sharing/. One module per concept, one namespace."""

from sharing import urls_links, urls_requests, urls_shares, urls_transfers

app_name = "sharing"

urlpatterns = [
    *urls_shares.urlpatterns,
    *urls_links.urlpatterns,
    *urls_transfers.urlpatterns,
    *urls_requests.urlpatterns,
]
