"""What someone answering a file request sees, under /r/<token>/ (no account needed)."""

from django.urls import URLPattern, URLResolver, path

from sharing.views import file_request_public as views

app_name = "file_request"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:token>/", views.request_open, name="open"),
    path("<str:token>/uploads/", views.uploads, name="uploads"),
    path("<str:token>/uploads/<str:upload_id>/", views.upload, name="upload"),
]
