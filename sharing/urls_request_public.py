"""What someone answering a file request sees, under /r/<token>/ (no account needed)."""

from django.urls import URLPattern, URLResolver, path

from sharing import views_request_public

app_name = "file_request"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:token>/", views_request_public.request_open, name="open"),
    path("<str:token>/uploads/", views_request_public.uploads, name="uploads"),
    path("<str:token>/uploads/<str:upload_id>/", views_request_public.upload, name="upload"),
]
