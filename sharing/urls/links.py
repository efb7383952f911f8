"""Pages (``urlpatterns``, included by sharing/urls/browser.py, namespace "sharing") and
REST API (``api_urlpatterns``, included by sharing/urls/api.py, namespace "sharing_api")
for links."""

from django.urls import URLPattern, URLResolver, path

from sharing.api import links as api
from sharing.views import links as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("links/", views.my_links, name="my_links"),
    path("links/<int:link_id>/revoke/", views.link_revoke, name="link_revoke"),
    path("files/<int:file_id>/links/", views.file_links, name="file_links"),
    path("folders/<int:folder_id>/links/", views.folder_links, name="folder_links"),
    path("policy/", views.policy, name="policy"),
    path("policy/suspension/", views.external_suspension, name="external_suspension"),
]

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("links/", api.MyLinksView.as_view(), name="links"),
    path("links/<int:link_id>/revoke/", api.LinkRevokeView.as_view(), name="link_revoke"),
    path("files/<int:file_id>/links/", api.FileLinksView.as_view(), name="file_links"),
    path("folders/<int:folder_id>/links/", api.FolderLinksView.as_view(), name="folder_links"),
]
