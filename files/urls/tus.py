"""/api/v1/uploads/: the tus 1.0 upload server (docs/uploads.md)."""

from django.urls import path

from files.views import tus as tus_views

app_name = "tus"

urlpatterns = [
    path("", tus_views.UploadCollectionView.as_view(), name="uploads"),
    path("<str:upload_id>/", tus_views.UploadView.as_view(), name="upload"),
]
