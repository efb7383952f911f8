from django.urls import include, path
from django.views.i18n import set_language

from securedrive import health, views

# JSON for /api/ addresses, the site's pages for the rest.
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    # Passkey ceremonies (django-otp-webauthn's JSON endpoints and its JS catalogue; its
    # registration views with SecureDrive's first-device rule, accounts/webauthn.py).
    path("accounts/webauthn/", include("accounts.webauthn_urls", namespace="otp_webauthn")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/files/", include("files.urls.api")),
    path("api/v1/uploads/", include("files.urls.tus")),
    path("files/", include("files.urls.browser")),
    path("sharing/", include("sharing.urls.browser")),
    path("api/v1/sharing/", include("sharing.urls.api")),
    path("api/v1/imaging/", include("imaging.api_urls")),
    path("s/", include("sharing.urls.link_public")),
    path("r/", include("sharing.urls.file_request_public")),
    path("imaging/", include("imaging.urls")),
    path("privacy/", include("privacy.urls")),
    # Sign-in with identity providers (OpenID Connect): docs/sso.md.
    path("sso/", include("sso.urls")),
    # SCIM 2.0 provisioning by the organisation's directory (docs/directory-scim.md).
    path("scim/v2/", include("directory.scim.urls")),
    path("directory/", include("directory.urls")),
    path("reviews/", include("reviews.urls")),
    path("audit/", include("audit.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("status/", views.platform_status, name="platform_status"),
    path("healthz", health.healthz, name="healthz"),
]
