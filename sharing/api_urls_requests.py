"""REST API for requests (included by sharing/api_urls.py, namespace "sharing_api")."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
