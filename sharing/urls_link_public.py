"""What a link's recipient sees, under /s/<token>/ (no account needed)."""

from django.urls import URLPattern, URLResolver

app_name = "share_link"

urlpatterns: list[URLPattern | URLResolver] = []
