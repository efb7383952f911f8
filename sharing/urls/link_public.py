"""What a link's recipient sees, under /s/<token>/ (no account needed)."""

from django.urls import URLPattern, URLResolver, path

from sharing.views import link_preview as preview_views
from sharing.views import link_public as views

app_name = "share_link"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:token>/", views.link_open, name="open"),
    path("<str:token>/files/<int:file_id>/", views.link_file_download, name="file"),
    path("<str:token>/archive/", views.link_archive_download, name="archive"),
    path(
        "<str:token>/files/<int:file_id>/preview/",
        preview_views.link_file_preview,
        name="preview",
    ),
    path(
        "<str:token>/files/<int:file_id>/preview/image/",
        preview_views.link_file_rendition,
        name="preview_rendition",
    ),
    path(
        "<str:token>/files/<int:file_id>/preview/stream/",
        preview_views.link_file_stream,
        name="preview_stream",
    ),
]
