from django.urls import path

from files.views import browser as views
from files.views import bulk as bulk_views
from files.views import preview as preview_views
from files.views import scan_policy as scan_policy_views
from files.views import tus as tus_views

app_name = "files"

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/<slug:slug>/", views.team_home, name="team"),
    path("search/", views.search_view, name="search"),
    path("admin/scanning/", scan_policy_views.scan_policy, name="scan_policy"),
    path("folders/<int:folder_id>/", views.folder_view, name="folder"),
    path("folders/<int:folder_id>/upload/", views.folder_upload, name="folder_upload"),
    path("folders/<int:folder_id>/new-folder/", views.folder_create, name="folder_create"),
    path("folders/<int:folder_id>/rename/", views.folder_rename, name="folder_rename"),
    path("folders/<int:folder_id>/move/", views.folder_move, name="folder_move"),
    path("folders/<int:folder_id>/delete/", views.folder_delete, name="folder_delete"),
    path("folders/<int:folder_id>/restore/", views.folder_restore, name="folder_restore"),
    path("folders/<int:folder_id>/purge/", views.folder_purge, name="folder_purge"),
    path("selection/trash/", bulk_views.selection_trash, name="selection_trash"),
    path("selection/restore/", bulk_views.selection_restore, name="selection_restore"),
    path("selection/purge/", bulk_views.selection_purge, name="selection_purge"),
    path("selection/move/", bulk_views.selection_move, name="selection_move"),
    path("selection/copy/", bulk_views.selection_copy, name="selection_copy"),
    path("folders/<int:folder_id>/favourite/", views.folder_favourite, name="folder_favourite"),
    path("<int:file_id>/favourite/", views.file_favourite, name="file_favourite"),
    path("spaces/<int:space_id>/trash/", views.trash_view, name="trash"),
    path("<int:file_id>/", views.file_view, name="file"),
    path("<int:file_id>/download/", views.file_download, name="download"),
    path("<int:file_id>/preview/", preview_views.file_preview, name="preview"),
    path(
        "<int:file_id>/preview/image/",
        preview_views.file_preview_rendition,
        name="preview_rendition",
    ),
    path("<int:file_id>/preview/stream/", preview_views.file_preview_stream, name="preview_stream"),
    path("<int:file_id>/thumbnail/", preview_views.file_thumbnail, name="thumbnail"),
    path("<int:file_id>/scan-badge/", tus_views.scan_badge, name="scan_badge"),
    path("<int:file_id>/upload/", views.file_upload_version, name="file_upload"),
    path("<int:file_id>/rename/", views.file_rename, name="file_rename"),
    path("<int:file_id>/move/", views.file_move, name="file_move"),
    path("<int:file_id>/copy/", views.file_copy, name="file_copy"),
    path("<int:file_id>/delete/", views.file_delete, name="file_delete"),
    path("<int:file_id>/restore/", views.file_restore, name="file_restore"),
    path("<int:file_id>/purge/", views.file_purge, name="file_purge"),
    path(
        "<int:file_id>/versions/<uuid:version_id>/download/",
        views.version_download,
        name="version_download",
    ),
    path(
        "<int:file_id>/versions/<uuid:version_id>/restore/",
        views.version_restore,
        name="version_restore",
    ),
]
