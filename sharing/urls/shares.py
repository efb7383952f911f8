"""Pages (``urlpatterns``, included by sharing/urls/browser.py, namespace "sharing") and
REST API (``api_urlpatterns``, included by sharing/urls/api.py, namespace "sharing_api")
for shares."""

from django.urls import URLPattern, URLResolver, path

from sharing.api import shares as api
from sharing.views import shares as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("shared-with-me/", views.shared_with_me, name="shared_with_me"),
    path("files/<int:file_id>/share/", views.file_sharing, name="file_sharing"),
    path("folders/<int:folder_id>/share/", views.folder_sharing, name="folder_sharing"),
    path("shares/<int:share_id>/role/", views.share_role_change, name="share_role"),
    path("shares/<int:share_id>/remove/", views.share_remove, name="share_remove"),
]

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("shares/", api.ShareListView.as_view(), name="shares"),
    path("shares/<int:share_id>/", api.ShareView.as_view(), name="share"),
    path("shared-with-me/", api.SharedWithMeView.as_view(), name="shared_with_me"),
]
