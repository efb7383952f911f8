"""REST API for shares (included by sharing/api_urls.py, namespace "sharing_api")."""

from django.urls import URLPattern, URLResolver, path

from sharing import api_shares

urlpatterns: list[URLPattern | URLResolver] = [
    path("shares/", api_shares.ShareListView.as_view(), name="shares"),
    path("shares/<int:share_id>/", api_shares.ShareView.as_view(), name="share"),
    path("shared-with-me/", api_shares.SharedWithMeView.as_view(), name="shared_with_me"),
]
