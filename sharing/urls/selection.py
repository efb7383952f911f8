"""Several ticked items at once, the sharing side: ZIP download and sharing
(included by sharing/urls/browser.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver, path

from sharing.views import selection as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("selection/download/", views.selection_download, name="selection_download"),
    path("selection/share/", views.selection_share, name="selection_share"),
]
