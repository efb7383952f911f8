from django.urls import include, path
from django.views.i18n import set_language

from securedrive import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("status/", views.platform_status, name="platform_status"),
    path("healthz", health.healthz, name="healthz"),
]
