"""Signed-in sharing pages, under /sharing/. One module per concept, one namespace."""

from sharing.urls import file_requests, links, selection, shares, transfers

app_name = "sharing"

urlpatterns = [
    *shares.urlpatterns,
    *links.urlpatterns,
    *transfers.urlpatterns,
    *file_requests.urlpatterns,
    *selection.urlpatterns,
]
