"""What someone answering a file request sees, under /r/<token>/ (no account needed)."""

from django.urls import URLPattern, URLResolver

app_name = "file_request"

urlpatterns: list[URLPattern | URLResolver] = []
