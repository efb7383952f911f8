"""/api/v1/imaging/: DICOMweb STOW-RS into a folder (docs/imaging.md, "Ingest")."""

from django.urls import path

from imaging import stow

app_name = "imaging_api"

# DICOMweb resources have no trailing slash (PS3.18 section 8.2): ".../studies".
urlpatterns = [
    path("dicomweb/studies", stow.StowView.as_view(), name="stow"),
    path("dicomweb/studies/<str:study_uid>", stow.StowView.as_view(), name="stow_study"),
    path(
        "dicomweb/folders/<int:folder_id>/studies",
        stow.StowView.as_view(),
        name="folder_stow",
    ),
    path(
        "dicomweb/folders/<int:folder_id>/studies/<str:study_uid>",
        stow.StowView.as_view(),
        name="folder_stow_study",
    ),
]
