"""/api/v1/files/: spaces, folders, files, versions, trash and downloads."""

from django.urls import path

from files import api

app_name = "files_api"

urlpatterns = [
    path("spaces/", api.SpaceListView.as_view(), name="spaces"),
    path("search/", api.SearchView.as_view(), name="search"),
    path("spaces/<int:space_id>/trash/", api.SpaceTrashView.as_view(), name="trash"),
    path("folders/<int:folder_id>/", api.FolderView.as_view(), name="folder"),
    path("folders/<int:folder_id>/folders/", api.FolderCreateView.as_view(), name="folder_create"),
    path("folders/<int:folder_id>/upload/", api.FolderUploadView.as_view(), name="folder_upload"),
    path(
        "folders/<int:folder_id>/restore/", api.FolderRestoreView.as_view(), name="folder_restore"
    ),
    path("folders/<int:folder_id>/purge/", api.FolderPurgeView.as_view(), name="folder_purge"),
    path("<int:file_id>/", api.FileView.as_view(), name="file"),
    path("<int:file_id>/copy/", api.FileCopyView.as_view(), name="file_copy"),
    path("<int:file_id>/restore/", api.FileRestoreView.as_view(), name="file_restore"),
    path("<int:file_id>/purge/", api.FilePurgeView.as_view(), name="file_purge"),
    path("<int:file_id>/content/", api.FileContentView.as_view(), name="file_content"),
    path("<int:file_id>/versions/", api.VersionListView.as_view(), name="versions"),
    path(
        "<int:file_id>/versions/<uuid:version_id>/content/",
        api.VersionContentView.as_view(),
        name="version_content",
    ),
    path(
        "<int:file_id>/versions/<uuid:version_id>/restore/",
        api.VersionRestoreView.as_view(),
        name="version_restore",
    ),
]
