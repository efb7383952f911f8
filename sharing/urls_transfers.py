"""Signed-in pages for transfers (included by sharing/urls.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver, path

from sharing import views_transfers

urlpatterns: list[URLPattern | URLResolver] = [
    path("transfers/", views_transfers.transfer_list, name="transfers"),
    path("transfers/new/", views_transfers.transfer_new, name="transfer_new"),
    path("transfers/<int:transfer_id>/", views_transfers.transfer_detail, name="transfer"),
    path(
        "transfers/<int:transfer_id>/files/",
        views_transfers.transfer_files_add,
        name="transfer_files_add",
    ),
    path("transfers/<int:transfer_id>/send/", views_transfers.transfer_send, name="transfer_send"),
    path(
        "transfers/<int:transfer_id>/revoke/",
        views_transfers.transfer_revoke,
        name="transfer_revoke",
    ),
    path(
        "transfers/<int:transfer_id>/recipients/<int:link_id>/revoke/",
        views_transfers.transfer_recipient_revoke,
        name="transfer_recipient_revoke",
    ),
    path(
        "transfers/<int:transfer_id>/delete/",
        views_transfers.transfer_delete,
        name="transfer_delete",
    ),
]
