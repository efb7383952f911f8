"""Signed-in pages for links (included by sharing/urls.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver, path

from sharing import views_links as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("links/", views.my_links, name="my_links"),
    path("links/<int:link_id>/revoke/", views.link_revoke, name="link_revoke"),
    path("files/<int:file_id>/links/", views.file_links, name="file_links"),
    path("folders/<int:folder_id>/links/", views.folder_links, name="folder_links"),
    path("policy/", views.policy, name="policy"),
]
