"""Signed-in pages for shares (included by sharing/urls.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver, path

from sharing import views_shares

urlpatterns: list[URLPattern | URLResolver] = [
    path("shared-with-me/", views_shares.shared_with_me, name="shared_with_me"),
    path("files/<int:file_id>/share/", views_shares.file_sharing, name="file_sharing"),
    path("folders/<int:folder_id>/share/", views_shares.folder_sharing, name="folder_sharing"),
    path("shares/<int:share_id>/role/", views_shares.share_role_change, name="share_role"),
    path("shares/<int:share_id>/remove/", views_shares.share_remove, name="share_remove"),
]
