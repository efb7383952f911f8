"""REST API for transfers (included by sharing/api_urls.py, namespace "sharing_api")."""

from django.urls import URLPattern, URLResolver, path

from sharing import api_transfers

urlpatterns: list[URLPattern | URLResolver] = [
    path("transfers/", api_transfers.TransferListView.as_view(), name="transfers"),
    path("transfers/<int:transfer_id>/", api_transfers.TransferView.as_view(), name="transfer"),
    path(
        "transfers/<int:transfer_id>/files/",
        api_transfers.TransferFilesView.as_view(),
        name="transfer_files",
    ),
    path(
        "transfers/<int:transfer_id>/send/",
        api_transfers.TransferSendView.as_view(),
        name="transfer_send",
    ),
    path(
        "transfers/<int:transfer_id>/revoke/",
        api_transfers.TransferRevokeView.as_view(),
        name="transfer_revoke",
    ),
]
