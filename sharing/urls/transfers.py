"""Pages (``urlpatterns``, included by sharing/urls/browser.py, namespace "sharing") and
REST API (``api_urlpatterns``, included by sharing/urls/api.py, namespace "sharing_api")
for transfers."""

from django.urls import URLPattern, URLResolver, path

from sharing.api import transfers as api
from sharing.views import transfers as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("transfers/", views.transfer_list, name="transfers"),
    path("transfers/new/", views.transfer_new, name="transfer_new"),
    path("transfers/<int:transfer_id>/", views.transfer_detail, name="transfer"),
    path(
        "transfers/<int:transfer_id>/files/",
        views.transfer_files_add,
        name="transfer_files_add",
    ),
    path("transfers/<int:transfer_id>/send/", views.transfer_send, name="transfer_send"),
    path(
        "transfers/<int:transfer_id>/revoke/",
        views.transfer_revoke,
        name="transfer_revoke",
    ),
    path(
        "transfers/<int:transfer_id>/recipients/<int:link_id>/revoke/",
        views.transfer_recipient_revoke,
        name="transfer_recipient_revoke",
    ),
    path(
        "transfers/<int:transfer_id>/delete/",
        views.transfer_delete,
        name="transfer_delete",
    ),
]

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("transfers/", api.TransferListView.as_view(), name="transfers"),
    path("transfers/<int:transfer_id>/", api.TransferView.as_view(), name="transfer"),
    path(
        "transfers/<int:transfer_id>/files/",
        api.TransferFilesView.as_view(),
        name="transfer_files",
    ),
    path(
        "transfers/<int:transfer_id>/send/",
        api.TransferSendView.as_view(),
        name="transfer_send",
    ),
    path(
        "transfers/<int:transfer_id>/revoke/",
        api.TransferRevokeView.as_view(),
        name="transfer_revoke",
    ),
]
