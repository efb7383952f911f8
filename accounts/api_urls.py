"""/api/v1/: who am I, personal access tokens, and the OpenAPI schema of the whole API."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from accounts import api

app_name = "api"

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("tokens/", api.TokenListView.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", api.TokenDetailView.as_view(), name="token"),
    # Schema only, no Swagger UI or Redoc: both need inline script, which the strict
    # Content-Security-Policy forbids (docs/api.md).
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]
