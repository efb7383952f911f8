"""Signed-in pages for shares (included by sharing/urls.py, namespace "sharing")."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
