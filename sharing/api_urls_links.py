"""REST API for links (included by sharing/api_urls.py, namespace "sharing_api")."""

from django.urls import URLPattern, URLResolver, path

from sharing import api_links

urlpatterns: list[URLPattern | URLResolver] = [
    path("links/", api_links.MyLinksView.as_view(), name="links"),
    path("links/<int:link_id>/revoke/", api_links.LinkRevokeView.as_view(), name="link_revoke"),
    path("files/<int:file_id>/links/", api_links.FileLinksView.as_view(), name="file_links"),
    path(
        "folders/<int:folder_id>/links/", api_links.FolderLinksView.as_view(), name="folder_links"
    ),
]
