"""SecureDrive settings, read from the environment.

Two profiles, chosen by ``SECUREDRIVE_PROFILE``:

* ``embedded`` (default): SQLite, filesystem storage, Celery over a folder broker,
  keyring and secret key generated under ``SECUREDRIVE_DATA_DIR/secrets``, e-mail to
  files. Needs no external server and listens on loopback only.
* ``production``: PostgreSQL, Redis, S3 storage and ClamAV. Refuses to start when a
  secret is missing or a value is unsafe (see ``securedrive.config``).

Every variable may also be given as ``NAME_FILE`` pointing at a file holding the value
(Docker/Kubernetes secrets). docs/configuration.md lists them all.

Names: an environment variable ``SECUREDRIVE_<AREA>_<NAME>`` sets the Django setting
``<AREA>_<NAME>`` (``SECUREDRIVE_SCAN_MAX_BYTES`` -> ``settings.SCAN_MAX_BYTES``), except
where Django or a library fixes the name (``SESSION_COOKIE_AGE``, ``AXES_*``). Periodic
tasks are one table, ``BEAT_TASKS``, at the end.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from core import log_format
from securedrive import config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()

PROFILE = config.profile_from(env.str("SECUREDRIVE_PROFILE", default="embedded"))
PRODUCTION = PROFILE == "production"

# --- Folders -----------------------------------------------------------------------
# The secrets folder (secret key, keyring) is kept apart from the database and from the
# storage folder: a copy of storage or of the database alone must not carry the keys.
DATA_DIR = Path(env.str("SECUREDRIVE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
SECRETS_DIR = Path(env.str("SECUREDRIVE_SECRETS_DIR", default=str(DATA_DIR / "secrets"))).resolve()
STORAGE_DIR = Path(env.str("SECUREDRIVE_STORAGE_DIR", default=str(DATA_DIR / "storage"))).resolve()

# --- Core ----------------------------------------------------------------------------
DEBUG = env.bool("SECUREDRIVE_DEBUG", default=False)

if PRODUCTION:
    SECRET_KEY = env.str("SECUREDRIVE_SECRET_KEY", default="")
else:
    SECRET_KEY = env.str("SECUREDRIVE_SECRET_KEY", default="") or config.secret_key_read_or_create(
        SECRETS_DIR / "secret_key"
    )

ALLOWED_HOSTS: list[str] = env.list(
    "SECUREDRIVE_ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"],
)
# Absolute URL used in e-mails and in the links printed by management commands.
SITE_URL = env.str(
    "SECUREDRIVE_SITE_URL", default="" if PRODUCTION else "http://127.0.0.1:8000"
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "securedrive",
    "core",
    "audit",
    "accounts",
    "files",
    "sharing",
    "imaging",
    "privacy",
    "sso",
    "directory",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # A NUL in the query string is a clear 400, audited, before any view reads it.
    "securedrive.input_middleware.QueryStringNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session timeouts, session list, revocation (accounts/sessions.py).
    "accounts.middleware.SessionPolicyMiddleware",
    # A signed-in user without a verified second factor may only enrol or verify one.
    "accounts.middleware.MFARequiredMiddleware",
    # Records each person's language for the e-mails they are sent later.
    "accounts.middleware.UserLanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A page with a button that posts, then redirects, to the identity provider allows
    # that provider in its form-action (sso/csp.py): after django-csp, which reads it.
    "sso.csp.ProviderFormActionMiddleware",
    # A limiter that fails closed and cannot count answers 503, not 500 (docs/rate-limits.md).
    "securedrive.ratelimit_middleware.RateLimitUnavailableMiddleware",
    # Last, as django-axes requires: turns lockouts into a clear response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "securedrive.urls"
# WSGI only, on purpose: under ASGI Django spools request bodies to plaintext temporary
# files and buffers streaming responses in memory (see docs/architecture.md).
WSGI_APPLICATION = "securedrive.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "securedrive.context_processors.platform_status",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------
if PRODUCTION or env.str("DATABASE_URL", default=""):
    DATABASES: dict[str, dict[str, Any]] = {"default": env.db("DATABASE_URL", default="")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db" / "securedrive.sqlite3",
        }
    }
config.database_tune(DATABASES["default"])
# PostgreSQL in production: DATABASE_URL is the *runtime* role, which owns nothing and
# cannot switch the audit trigger off; the *owner* role runs migrations only, through
# `manage.py bootstrap`. Set this for that command alone (never for web, worker or beat,
# which refuse to start with it): docs/production.md, "Database roles".
SECUREDRIVE_MIGRATION_DATABASE_URL = env.str("SECUREDRIVE_MIGRATION_DATABASE_URL", default="")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out accounts/addresses before any check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Passkeys (django-otp-webauthn) are bound to a domain name and origins. An IP address
# is not a valid relying-party id, so embedded mode uses "localhost": browse to
# http://localhost:8000 to enrol or use a passkey there (browsers treat it as secure).
_site_host = urlsplit(SITE_URL).hostname or "localhost"
OTP_WEBAUTHN_RP_ID = env.str(
    "SECUREDRIVE_WEBAUTHN_RP_ID",
    default="localhost" if _site_host in {"127.0.0.1", "::1"} else _site_host,
)
OTP_WEBAUTHN_RP_NAME = "SecureDrive"
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list(
    "SECUREDRIVE_WEBAUTHN_ORIGINS",
    default=[SITE_URL] if PRODUCTION else ["http://localhost:8000", SITE_URL],
)
# Plain-HTTP origins are only ever loopback in embedded mode; production is https-only.
SILENCED_SYSTEM_CHECKS = [] if PRODUCTION else ["otp_webauthn.E031"]
# Passkeys are a second factor after the password, never a way to skip it.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# Records passkey registrations and verifications in the audit log (accounts/webauthn.py).
OTP_WEBAUTHN_HELPER_CLASS = "accounts.webauthn.AuditedWebAuthnHelper"
# Shown by authenticator apps next to the account name.
OTP_TOTP_ISSUER = "SecureDrive"

# Sign-in with the organisation's identity providers (OpenID Connect, sso/, docs/sso.md):
# SECUREDRIVE_OIDC_PROVIDERS=psc,keycloak and SECUREDRIVE_OIDC_<SLUG>_* for each; none by
# default. A provider's answers are checked, never trusted (sso/providers.py).
OIDC_PROVIDERS = config.oidc_providers_from(env, production=PRODUCTION)
# How far an ID token's times (exp, iat) may stray from this server's clock, in seconds.
OIDC_CLOCK_LEEWAY_S = env.int("SECUREDRIVE_OIDC_CLOCK_LEEWAY_S", default=60)

# Guessing is stopped (django-axes): after 5 failures, per account and per address.
AXES_FAILURE_LIMIT = env.int("SECUREDRIVE_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("SECUREDRIVE_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A correct password clears that account's failures only (accounts/lockout.py).
AXES_HANDLER = "accounts.lockout.AccountLockoutHandler"
AXES_USERNAME_FORM_FIELD = "username"
AXES_IPWARE_PROXY_COUNT = None
# An IPv6 client's /64 counts as one address (accounts/lockout.py, docs/rate-limits.md).
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.lockout_address"
AXES_VERBOSE = False
# The same translated page (HTTP 429) for every locked-out attempt, known account or not.
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# One counter per account whatever the case or spaces typed around the address.
AXES_USERNAME_CALLABLE = "accounts.lockout.attempted_username"

# Lifetime of the one-time set-up link printed for the first administrator.
PASSWORD_RESET_TIMEOUT = 24 * 3600
# Four eyes on a key to an account whose address someone else changed (the directory,
# an administrator): for this many days after, a set-up link or a link to the identity
# provider needs a second site administrator's approval (accounts/credential_approvals.py).
# A rogue administrator could otherwise move a clinician's address to his own mailbox
# and send himself the link. At least 1: there is no switch to turn the rule off.
CREDENTIAL_APPROVAL_DAYS = env.int("SECUREDRIVE_CREDENTIAL_APPROVAL_DAYS", default=14)
if CREDENTIAL_APPROVAL_DAYS < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECUREDRIVE_CREDENTIAL_APPROVAL_DAYS must be at least 1 (days after someone else "
        "changed an account's address during which its sign-in links need a second "
        "administrator)."
    )

# --- Sessions and cookies ------------------------------------------------------------
# Embedded mode serves plain HTTP on loopback, where a Secure cookie would never be sent
# back; production always runs behind TLS.
HTTPS = env.bool("SECUREDRIVE_HTTPS", default=PRODUCTION)
SESSION_COOKIE_AGE = env.int("SECUREDRIVE_SESSION_MAX_AGE", default=12 * 3600)
# Recent authentication ("sudo mode", accounts/reauth.py): adding or removing a second
# factor, minting a token, an administrator's most dangerous actions need a second
# factor proved within this many minutes, so a stolen session cookie alone cannot do
# them. 0 asks every time.
REAUTH_MINUTES = env.int("SECUREDRIVE_REAUTH_MINUTES", default=10)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
SESSION_COOKIE_NAME = "__Host-sessionid" if HTTPS else "sessionid"
CSRF_COOKIE_SECURE = HTTPS
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_NAME = "__Host-csrftoken" if HTTPS else "csrftoken"
CSRF_TRUSTED_ORIGINS = [SITE_URL] if SITE_URL else []
# A refused form is recorded (request.csrf.refuse) and explained in the site's layout.
CSRF_FAILURE_VIEW = "securedrive.views.csrf_failure"
LANGUAGE_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Transport security (production sits behind a TLS reverse proxy) -----------------
SECURE_SSL_REDIRECT = HTTPS
# The health endpoint is probed by the orchestrator over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("SECUREDRIVE_BEHIND_TLS_PROXY", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Number of reverse proxies in front of the web process whose X-Forwarded-For entries
# are trusted when recording a client's address in the audit log. 0: use REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("SECUREDRIVE_TRUSTED_PROXY_COUNT", default=0)

# Strict Content-Security-Policy: no inline script or style anywhere. htmx is configured
# through a <meta> tag so that it injects no inline style either.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        # No page runs a worker except the preview page (PDF.js), which allows 'self'
        # for itself alone (files/views/preview.py).
        "worker-src": [NONE],
        "form-action": [SELF],
        "manifest-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Uploads -------------------------------------------------------------------------
# Django's default handlers spool uploads to plaintext temporary files. None are
# installed: file content only ever enters through the files app's encrypting paths.
FILE_UPLOAD_HANDLERS: list[str] = []
DATA_UPLOAD_MAX_NUMBER_FILES = 100

# --- Imaging (docs/imaging.md) ----------------------------------------------------------
# A ZIP with more members than this is not indexed (a 1,500-slice CT is ~1,500).
IMAGING_ZIP_MAX_MEMBERS = env.int("SECUREDRIVE_IMAGING_ZIP_MAX_MEMBERS", default=50_000)
# A de-identified copy of a study refuses more instances than this (one request's work).
IMAGING_DEIDENTIFY_MAX_INSTANCES = env.int(
    "SECUREDRIVE_IMAGING_DEIDENTIFY_MAX_INSTANCES", default=5_000
)
# The DICOM C-STORE receiver (`manage.py dicom_receiver`, docs/imaging.md "Ingest"): off
# unless a port is set; the allow-list of calling AE titles (optionally @IP) is empty,
# which refuses everyone; instances land as the owner account, in the folder given.
DICOM_HOST = env.str("SECUREDRIVE_DICOM_HOST", default="127.0.0.1")
DICOM_PORT = env.int("SECUREDRIVE_DICOM_PORT", default=0)
DICOM_AE_TITLE = env.str("SECUREDRIVE_DICOM_AE_TITLE", default="SECUREDRIVE")
DICOM_ALLOWED_PEERS = env.list("SECUREDRIVE_DICOM_ALLOWED_PEERS", default=[])
DICOM_OWNER = env.str("SECUREDRIVE_DICOM_OWNER", default="")
DICOM_FOLDER_ID = env.int("SECUREDRIVE_DICOM_FOLDER_ID", default=0)
# What the C-STORE receiver's associations together may hold of instances being received.
DICOM_MEMORY_MAX_MB = env.int("SECUREDRIVE_DICOM_MEMORY_MAX_MB", default=1024)

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("SECUREDRIVE_TIME_ZONE", default="Europe/Paris")
# The organisation named in e-mails to people outside ("Dr Martin of Hôpital Nord sent
# you files"). Those e-mails carry nothing else about the content: no subject, message or
# file name, which often name a patient (issue #15).
ORGANISATION_NAME = env.str("SECUREDRIVE_ORGANISATION_NAME", default="")
# Dates in each language's own format (core/formats), shown with their time zone by the
# `when` template filter (core/templatetags/dates.py).
FORMAT_MODULE_PATH = ["core.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files and storage -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

if PRODUCTION:
    _default_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("SECUREDRIVE_S3_BUCKET", default=""),
            "endpoint_url": env.str("SECUREDRIVE_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("SECUREDRIVE_S3_REGION", default="") or None,
            "access_key": env.str("SECUREDRIVE_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("SECUREDRIVE_S3_SECRET_ACCESS_KEY", default="") or None,
            "addressing_style": env.str("SECUREDRIVE_S3_ADDRESSING_STYLE", default="path"),
            # Blobs are immutable ciphertext: never overwrite, never public.
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": STORAGE_DIR,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# E-mail address given to the first administrator by `manage.py bootstrap`.
ADMIN_EMAIL = env.str("SECUREDRIVE_ADMIN_EMAIL", default="admin@localhost")

# --- Keyring (key-encryption keys, see docs/encryption-format.md) ----------------------
KEYRING_FILE = Path(
    env.str("SECUREDRIVE_KEYRING_FILE", default=str(SECRETS_DIR / "keyring.json"))
).resolve()

# --- Files: encrypted, versioned storage (docs/storage.md) -----------------------------
# Plaintext bytes per blob segment for new versions (files/crypto.py explains 1 MiB);
# each version records its own, so changing this never affects existing blobs.
FILES_SEGMENT_SIZE = env.int("SECUREDRIVE_FILES_SEGMENT_SIZE", default=1024 * 1024)
# Previews (docs/previews.md): what the server decodes in memory, at most.
PREVIEW_SOURCE_MAX_BYTES = env.int("SECUREDRIVE_PREVIEW_SOURCE_MAX_BYTES", default=50 * 1024 * 1024)
PREVIEW_IMAGE_MAX_PIXELS = env.int("SECUREDRIVE_PREVIEW_IMAGE_MAX_PIXELS", default=50_000_000)
PREVIEW_TEXT_MAX_BYTES = env.int("SECUREDRIVE_PREVIEW_TEXT_MAX_BYTES", default=512 * 1024)
# Default quotas, in bytes of plaintext over every version kept (trash included). A
# space's own quota_bytes overrides them.
FILES_PERSONAL_QUOTA_BYTES = env.int("SECUREDRIVE_FILES_PERSONAL_QUOTA_BYTES", default=20 * 2**30)
FILES_TEAM_QUOTA_BYTES = env.int("SECUREDRIVE_FILES_TEAM_QUOTA_BYTES", default=200 * 2**30)
# Largest file accepted by the simple (non-resumable) upload.
FILES_UPLOAD_MAX_BYTES = env.int("SECUREDRIVE_FILES_UPLOAD_MAX_BYTES", default=10 * 2**30)
# Version retention: an old version is purged once it is neither among the newest
# KEEP_COUNT versions of its file nor younger than KEEP_DAYS days. Spaces may override.
FILES_VERSION_KEEP_COUNT = env.int("SECUREDRIVE_FILES_VERSION_KEEP_COUNT", default=10)
FILES_VERSION_KEEP_DAYS = env.int("SECUREDRIVE_FILES_VERSION_KEEP_DAYS", default=30)
# Trashed files and folders are purged (crypto-shredded) after this many days.
FILES_TRASH_RETENTION_DAYS = env.int("SECUREDRIVE_FILES_TRASH_RETENTION_DAYS", default=30)
# Blobs fully re-verified (authenticated decryption) per scrub run, least recent first.
FILES_SCRUB_BATCH = env.int("SECUREDRIVE_FILES_SCRUB_BATCH", default=50)

# --- Resumable uploads (tus 1.0, docs/uploads.md) ----------------------------------------
# Largest file a tus upload may declare (a policy; the space's quota applies too).
TUS_MAX_SIZE_BYTES = env.int("SECUREDRIVE_TUS_MAX_SIZE_BYTES", default=20 * 2**30)
# An upload with no PATCH for this long expires (410) and is deleted by beat.
TUS_EXPIRY_SECONDS = env.int("SECUREDRIVE_TUS_EXPIRY_SECONDS", default=24 * 3600)
# An unfinished upload through a file request holds its place in the request's limits
# this long after its creation or last PATCH; then the place goes to whoever needs it
# (the upload may still resume while a place is free): link holders starting uploads
# that never finish cannot keep the real files out until the upload expires.
FILE_REQUEST_UPLOAD_HOLD_SECONDS = env.int(
    "SECUREDRIVE_FILE_REQUEST_UPLOAD_HOLD_SECONDS", default=15 * 60
)
# Unfinished uploads one person may have open at once (each a row, an audit event and a
# wrapped key, and the tus endpoint is exempt from the API's per-person rate): a
# browser dropping a DICOM folder starts every file at once, so well above the 1,500
# slices of a large study, yet a stolen token cannot make millions of empty ones.
TUS_OPEN_UPLOADS_MAX = env.int("SECUREDRIVE_TUS_OPEN_UPLOADS_MAX", default=5000)
# How long HEAD or PATCH waits for another request on the same upload (a PATCH whose
# client went away commits what arrived) before answering 423, which clients retry.
TUS_LOCK_WAIT_SECONDS = env.float("SECUREDRIVE_TUS_LOCK_WAIT_SECONDS", default=10.0)
# An upload's ciphertext is written past the page cache where the filesystem allows it
# (files/direct_writes.py); false writes through the page cache, as before issue #18.
STAGING_DIRECT_IO = env.bool("SECUREDRIVE_STAGING_DIRECT_IO", default=True)

# --- Virus scanner ---------------------------------------------------------------------
# "tcp://127.0.0.1:3310" or "unix:///run/clamav/clamd.ctl". Empty: scanning disabled,
# which the UI and the health endpoint say loudly; uploads then stay pending. Unset in
# the embedded profile: Debian's clamav-daemon socket when it exists.
CLAMD_ADDRESS = env.str(
    "SECUREDRIVE_CLAMD_ADDRESS", default=config.clamd_address_default(production=PRODUCTION)
)
CLAMD_TIMEOUT_S = env.float("SECUREDRIVE_CLAMD_TIMEOUT_S", default=60.0)
SCANNER_WAIVED = env.bool("SECUREDRIVE_SCANNER_WAIVED", default=False)
# The finalize pipeline (docs/scanning.md). Plaintext larger than clamd's StreamMaxLength
# cannot be scanned: keep this equal to it (docker-compose.yml: 4000M; tests: 64M). Each
# pass is also kept under 2 GiB, what ClamAV can scan in one file (files/clamd.py).
SCAN_MAX_BYTES = env.int("SECUREDRIVE_SCAN_MAX_BYTES", default=4000 * 2**20)
# Scan windows (docs/scanning.md): a stream longer than clamd's StreamMaxLength (read
# from clamd, capped by SCAN_MAX_BYTES) is scanned, if the policy says "windowed", in
# windows overlapping by at least this many bytes, or by the longest bounded signature
# of the databases in SCAN_SIGNATURE_DIR (clamd's DatabaseDirectory, when readable) if
# longer. 1 MiB is far above any body signature we know of and costs 0.03% of a 4 GB
# window. clamd's limits are re-read every SCAN_LIMITS_CACHE_S seconds.
SCAN_WINDOW_OVERLAP_BYTES = env.int("SECUREDRIVE_SCAN_WINDOW_OVERLAP_BYTES", default=2**20)
SCAN_SIGNATURE_DIR = env.str("SECUREDRIVE_SCAN_SIGNATURE_DIR", default="/var/lib/clamav")
SCAN_LIMITS_CACHE_S = env.float("SECUREDRIVE_SCAN_LIMITS_CACHE_S", default=300.0)
# The site's default for what happens to content the scanner cannot fully inspect in one
# stream, until an administrator sets it on the scanning page (per site and per team):
# "block" blocks it, "windowed" scans files too long for one stream in overlapping
# windows (what stays uninspectable, e.g. an encrypted archive, is blocked), "allow"
# makes it downloadable flagged "not fully scanned". Never "clean".
SCAN_OVERSIZE_POLICY = env.str("SECUREDRIVE_SCAN_OVERSIZE_POLICY", default="block")
# Archive limits (files/archives.py): beyond any of them an archive is "not scanned".
SCAN_ARCHIVE_MAX_ENTRIES = env.int("SECUREDRIVE_SCAN_ARCHIVE_MAX_ENTRIES", default=10_000)
SCAN_ARCHIVE_MAX_UNPACKED_BYTES = env.int(
    "SECUREDRIVE_SCAN_ARCHIVE_MAX_UNPACKED_BYTES", default=4000 * 2**20
)
SCAN_ARCHIVE_MAX_RATIO = env.int("SECUREDRIVE_SCAN_ARCHIVE_MAX_RATIO", default=100)
SCAN_ARCHIVE_MAX_DEPTH = env.int("SECUREDRIVE_SCAN_ARCHIVE_MAX_DEPTH", default=3)
# A nested archive is inspected in memory (never on disk): up to this many bytes.
SCAN_ARCHIVE_NESTED_MAX_BYTES = env.int(
    "SECUREDRIVE_SCAN_ARCHIVE_NESTED_MAX_BYTES", default=64 * 2**20
)
# Hard limits of one finalize run; past the soft one the version is "scan failed".
SCAN_SOFT_TIME_LIMIT_S = env.int("SECUREDRIVE_SCAN_SOFT_TIME_LIMIT_S", default=3 * 3600)
SCAN_TIME_LIMIT_S = env.int("SECUREDRIVE_SCAN_TIME_LIMIT_S", default=3 * 3600 + 120)
# Retries while clamd is unreachable, with exponential backoff (capped), then "scan failed".
SCAN_MAX_RETRIES = env.int("SECUREDRIVE_SCAN_MAX_RETRIES", default=10)
# The sweeper re-enqueues versions waiting or scanning for longer than this.
SCAN_STUCK_MINUTES = env.int("SECUREDRIVE_SCAN_STUCK_MINUTES", default=15)
# A scan's claim is a lease renewed every quarter of it while the scan progresses: a
# killed worker's version is taken back by the sweeper once the lease has run out, never
# while its run is alive (files/services/finalize.py). Two minutes outlast clamd's reply
# timeout (SECUREDRIVE_CLAMD_TIMEOUT_S) and a PostgreSQL restart.
SCAN_LEASE_S = env.float("SECUREDRIVE_SCAN_LEASE_S", default=120.0)
# How often the sweeper looks for versions waiting without a live run.
SCAN_SWEEP_S = env.float("SECUREDRIVE_SCAN_SWEEP_S", default=60.0)
# Test only (tests/test_scanning_crash.py): a pause between segments, so that a worker
# can be killed in the middle of a scan. Zero everywhere else.
SCAN_SEGMENT_DELAY_S = env.float("SECUREDRIVE_SCAN_SEGMENT_DELAY_S", default=0.0)

# --- Celery ----------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
# Seconds to connect to Redis and to wait for each answer. kombu's default is to wait
# for ever: a Redis that accepts connections but never answers (a stuck server, a
# half-open path after a failover) held every request that enqueues a task (an upload's
# last PATCH, a share, a deactivation) with no end. Past it the enqueue fails, the
# request goes on (tasks are enqueued with on_commit(robust=True)) and a sweeper
# enqueues an upload's finalisation again later (versions_stuck_requeue). Above
# kombu's BRPOP timeout (1 s), which a worker's idle connection waits on each time.
# tests/test_broker_unreachable.py measures it.
BROKER_TIMEOUT_S = env.float("SECUREDRIVE_BROKER_TIMEOUT_S", default=2.0)
if PRODUCTION or env.str("SECUREDRIVE_REDIS_URL", default=""):
    CELERY_BROKER_URL = env.str("SECUREDRIVE_REDIS_URL", default="")
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        # Longer than the slowest task (a full re-encryption of a large version).
        "visibility_timeout": 6 * 3600,
        "socket_connect_timeout": BROKER_TIMEOUT_S,
        "socket_timeout": BROKER_TIMEOUT_S,
    }
else:
    # Embedded broker: messages are rows of one SQLite file (securedrive/broker.py), so a
    # real worker process runs without any server. Good for one machine, not for several.
    CELERY_BROKER_URL = "sqlite-broker://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"path": str(BROKER_DIR / "messages.sqlite3")}
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_S
# One retry of a failed publish (Celery's default is three), each bounded by the
# timeout above: a web request gives up within a few seconds, not minutes.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task whose worker dies is redelivered only with both settings (FIELD-NOTES).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through LOGGING below (UTC, named) rather than Celery's own local-time format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Audit: checkpoints, signing, forwarding, retention (docs/audit.md) ---------------------
# Ed25519 key signing checkpoints and exports; created on first use in embedded mode,
# required in production (audit/checkpoints.py).
AUDIT_SIGNING_KEY_FILE = Path(
    env.str(
        "SECUREDRIVE_AUDIT_SIGNING_KEY_FILE", default=str(SECRETS_DIR / "audit_signing_key.pem")
    )
).resolve()
# The log's name in checkpoints (C2SP tlog-checkpoint origin line).
AUDIT_LOG_ORIGIN = env.str(
    "SECUREDRIVE_AUDIT_LOG_ORIGIN",
    default=f"{urlsplit(SITE_URL).netloc or 'securedrive.local'}/audit",
)
# Embedded: a folder outside the database. Production: an S3 bucket with Object Lock.
AUDIT_CHECKPOINT_DIR = Path(
    env.str("SECUREDRIVE_AUDIT_CHECKPOINT_DIR", default=str(DATA_DIR / "audit-checkpoints"))
).resolve()
AUDIT_CHECKPOINT_S3_BUCKET = env.str("SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET", default="")
AUDIT_CHECKPOINT_S3_ENDPOINT_URL = env.str(
    "SECUREDRIVE_AUDIT_CHECKPOINT_S3_ENDPOINT_URL", default=""
)
AUDIT_CHECKPOINT_S3_REGION = env.str("SECUREDRIVE_AUDIT_CHECKPOINT_S3_REGION", default="")
# Empty: the standard AWS chain (environment, profile, instance role). docker-compose.yml
# gives the MinIO user of the blob bucket, whose policy may put and read checkpoints but
# not delete them (and Object Lock refuses that to anyone).
AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID = env.str(
    "SECUREDRIVE_AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID", default=""
)
AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY = env.str(
    "SECUREDRIVE_AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY", default=""
)
AUDIT_CHECKPOINT_RETENTION_DAYS = env.int(
    "SECUREDRIVE_AUDIT_CHECKPOINT_RETENTION_DAYS", default=6 * 366
)
# A checkpoint every N events, and at least every T seconds while events arrive.
AUDIT_CHECKPOINT_EVERY_EVENTS = env.int("SECUREDRIVE_AUDIT_CHECKPOINT_EVERY_EVENTS", default=1000)
AUDIT_CHECKPOINT_INTERVAL_S = env.float("SECUREDRIVE_AUDIT_CHECKPOINT_INTERVAL_S", default=600.0)
AUDIT_VERIFY_INTERVAL_S = env.float("SECUREDRIVE_AUDIT_VERIFY_INTERVAL_S", default=3600.0)
# A worker queues a verification as soon as it starts (audit/tasks.py). Off only for
# workers that drain a queue with no database behind them (the broker's tests, benches).
AUDIT_VERIFY_ON_START = env.bool("SECUREDRIVE_AUDIT_VERIFY_ON_START", default=True)
# SIEM forwarding: one JSON line per committed event on the "securedrive.audit" logger.
AUDIT_LOG_FILE = env.str("SECUREDRIVE_AUDIT_LOG_FILE", default="")
AUDIT_SYSLOG_ADDRESS = env.str("SECUREDRIVE_AUDIT_SYSLOG_ADDRESS", default="")
# Alert rules (audit/alerts.py), e-mailed to site administrators and auditors.
AUDIT_ALERT_INTERVAL_S = env.float("SECUREDRIVE_AUDIT_ALERT_INTERVAL_S", default=300.0)
AUDIT_ALERT_DOWNLOADS_COUNT = env.int("SECUREDRIVE_AUDIT_ALERT_DOWNLOADS_COUNT", default=50)
AUDIT_ALERT_DOWNLOADS_WINDOW_S = env.float(
    "SECUREDRIVE_AUDIT_ALERT_DOWNLOADS_WINDOW_S", default=600.0
)
AUDIT_ALERT_FAILED_LOGINS_COUNT = env.int("SECUREDRIVE_AUDIT_ALERT_FAILED_LOGINS_COUNT", default=5)
AUDIT_ALERT_FAILED_LOGINS_WINDOW_S = env.float(
    "SECUREDRIVE_AUDIT_ALERT_FAILED_LOGINS_WINDOW_S", default=900.0
)
# Requests refused by a rate limit, added up per target (a link, an account) across every
# address, or per endpoint when the refusal names no target: a password guesser and a
# botnet of a few tries per address alike (audit/alerts.py, docs/audit.md). A person who
# forgot a link's password is refused a few times, a guesser tens to thousands.
AUDIT_ALERT_REFUSALS_COUNT = env.int("SECUREDRIVE_AUDIT_ALERT_REFUSALS_COUNT", default=20)
AUDIT_ALERT_REFUSALS_WINDOW_S = env.float(
    "SECUREDRIVE_AUDIT_ALERT_REFUSALS_WINDOW_S", default=3600.0
)
AUDIT_ALERT_WORKING_TIMEZONE = env.str(
    "SECUREDRIVE_AUDIT_ALERT_WORKING_TIMEZONE", default=TIME_ZONE
)
AUDIT_ALERT_WORKING_HOURS = tuple(
    int(hour)
    for hour in env.str("SECUREDRIVE_AUDIT_ALERT_WORKING_HOURS", default="7-20").split("-")
)
# The hourly verification is incremental (from the last verified checkpoint); a full
# recomputation runs this often.
AUDIT_VERIFY_FULL_INTERVAL_S = env.float(
    "SECUREDRIVE_AUDIT_VERIFY_FULL_INTERVAL_S", default=86400.0
)
# Retention (audit/retention.py): events older than this are purged, only up to a signed
# checkpoint; default 6 years (6 x 365 days + 2 leap days).
AUDIT_RETENTION_DAYS = env.int("SECUREDRIVE_AUDIT_RETENTION_DAYS", default=6 * 365 + 2)
# The database refuses to purge events younger than a year whoever asks (audit/0012, a
# floor a stolen runtime password cannot lower): a shorter setting could never be applied.
AUDIT_RETENTION_MINIMUM_DAYS = 365
if AUDIT_RETENTION_DAYS < AUDIT_RETENTION_MINIMUM_DAYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"SECUREDRIVE_AUDIT_RETENTION_DAYS must be at least {AUDIT_RETENTION_MINIMUM_DAYS} "
        "(the database never purges younger audit events; CNIL asks for 6 to 12 months)."
    )
AUDIT_RETENTION_INTERVAL_S = env.float("SECUREDRIVE_AUDIT_RETENTION_INTERVAL_S", default=86400.0)

# --- Cache (shared by web and worker processes: heartbeats, rate limits) ---------------
# Seconds to connect to Redis and to wait for an answer. Every sign-in, link opening and
# /healthz touches the cache: a Redis that accepts connections but never answers would
# hold each of them for the client library's default (5 s in redis-py 8, forever in
# older ones). Past it, fail-closed limiters refuse with a 503 and /healthz says
# "failing" (docs/rate-limits.md); tests/test_cache_unreachable.py measures both.
CACHE_TIMEOUT_S = env.float("SECUREDRIVE_CACHE_TIMEOUT_S", default=1.0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "securedrive",
            # Passed to redis-py's connection pool.
            "OPTIONS": {
                "socket_connect_timeout": CACHE_TIMEOUT_S,
                "socket_timeout": CACHE_TIMEOUT_S,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# Rate-limit hit logs when the cache is not Redis: one SQLite file, atomic writes, no
# eviction (core/ratelimit.py). Tests give each test its own.
RATELIMIT_DATABASE = DATA_DIR / "ratelimit.sqlite3"

# --- E-mail ------------------------------------------------------------------------------
if PRODUCTION or env.str("SECUREDRIVE_EMAIL_URL", default=""):
    # EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS... from one URL.
    globals().update(env.email_url("SECUREDRIVE_EMAIL_URL", default="smtp://"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("SECUREDRIVE_FROM_EMAIL", default="SecureDrive <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST API (/api/v1/, docs/api.md) ---------------------------------------------------
REST_FRAMEWORK = {
    # A personal access token (Bearer), or the browser's session once MFA-verified.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalAccessTokenAuthentication",
        "accounts.authentication.MFAVerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API needs inline script and would be a second UI to secure.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.JSONBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    # One translation of the app errors (core.errors) into answers, for every API view.
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.AnonThrottle",
        "accounts.throttling.UserThrottle",
    ],
    # Exact limits (core/ratelimit.py: a Redis list per key in production, a SQLite file
    # embedded), per address or per person; docs/rate-limits.md says which fail closed.
    # "token_create" only counts POST /api/v1/tokens/ (accounts.api.TokenCreateThrottle).
    "DEFAULT_THROTTLE_RATES": {
        "anon": "60/minute",
        "user": "600/minute",
        "token_create": "20/hour",
    },
    # Never None: DRF would then key anonymous rates on the client-written
    # X-Forwarded-For header. 0 means REMOTE_ADDR, as for the audit log.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SecureDrive API",
    "DESCRIPTION": "SecureDrive for integrators: who am I, tokens, files. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    # The share role and the team role are both fields called "role": name them apart
    # (drf-spectacular warns otherwise, and the deploy check fails on warnings).
    "ENUM_NAME_OVERRIDES": {"ShareRoleEnum": "sharing.models.shares.ShareRole"},
    # Schema only: Swagger UI and Redoc need inline script, which the CSP forbids.
}

# --- Logging: to stderr, never file content ---------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One named time zone (UTC) on every line, from every process: core/log_format.py.
    "formatters": {"plain": {"()": "core.log_format.UTCFormatter", "fmt": log_format.FORMAT}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": env.str("SECUREDRIVE_LOG_LEVEL", default="INFO")},
    # django-axes logs every successful sign-in at INFO; the audit log already has them.
    "loggers": {"axes": {"level": "WARNING"}},
}
# SIEM forwarding (audit/forwarding.py): the "securedrive.audit" logger writes one JSON
# line per committed audit event to a file and/or syslog ("host:port" UDP or a socket path).
_audit_handlers: dict[str, dict[str, Any]] = {}
if AUDIT_LOG_FILE:
    _audit_handlers["audit_file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": AUDIT_LOG_FILE,
        "formatter": "audit_json",
    }
if AUDIT_SYSLOG_ADDRESS:
    _syslog_host, _, _syslog_port = AUDIT_SYSLOG_ADDRESS.rpartition(":")
    _audit_handlers["audit_syslog"] = {
        "class": "logging.handlers.SysLogHandler",
        "address": (_syslog_host, int(_syslog_port))
        if _syslog_host and _syslog_port.isdigit()
        else AUDIT_SYSLOG_ADDRESS,
        "formatter": "audit_json",
    }
LOGGING["formatters"]["audit_json"] = {"format": "%(message)s"}  # type: ignore[index]
LOGGING["handlers"].update(_audit_handlers)  # type: ignore[attr-defined]
LOGGING["loggers"]["securedrive.audit"] = {  # type: ignore[index]
    "handlers": list(_audit_handlers),
    "level": "INFO",
    # Only where configured: the JSON lines must not flood stderr.
    "propagate": False,
}

# --- Refuse to start on an unsafe production configuration ---------------------------------
if PRODUCTION:
    config.production_refuse_unsafe(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        allowed_hosts=ALLOWED_HOSTS,
        site_url=SITE_URL,
        database=DATABASES["default"],
        broker_url=CELERY_BROKER_URL,
        storage_options=_default_storage["OPTIONS"],
        keyring_file=KEYRING_FILE,
        audit_signing_key_file=AUDIT_SIGNING_KEY_FILE,
        audit_checkpoint_bucket=AUDIT_CHECKPOINT_S3_BUCKET,
        audit_checkpoint_retention_days=AUDIT_CHECKPOINT_RETENTION_DAYS,
        audit_retention_days=AUDIT_RETENTION_DAYS,
        data_dirs=[STORAGE_DIR, DATA_DIR / "db"],
        clamd_address=CLAMD_ADDRESS,
        scanner_waived=SCANNER_WAIVED,
        https=HTTPS,
        email_backend=EMAIL_BACKEND,
    )

# --- Sharing (sharing/; docs/sharing-*.md) ---------------------------------------------------
# Who may share and how (link expiry, passwords, e-mail codes, domains) is the admin's
# SharingPolicy, in the database. Its beat tasks (BEAT_TASKS) are idempotent.


# --- Access reviews (docs/access-reviews.md) -------------------------------------------------
# Each team's managers review members, shares outside the team and live external links
# once per period (quarterly by default); what is pending after the due delay escalates.
ACCESS_REVIEW_PERIOD_DAYS = env.int("SECUREDRIVE_ACCESS_REVIEW_PERIOD_DAYS", default=91)
ACCESS_REVIEW_DUE_DAYS = env.int("SECUREDRIVE_ACCESS_REVIEW_DUE_DAYS", default=14)


# --- Periodic tasks (Celery beat): the one table ------------------------------------------
# Every periodic task of every app, here and nowhere else (paperless-ngx keeps its beat
# schedule as one table too). All are idempotent: a run does only what is still due, so
# a late or doubled run is harmless. (name, task, every N seconds, keyword arguments)
WORKER_HEARTBEAT_S = env.float("SECUREDRIVE_WORKER_HEARTBEAT_S", default=30.0)
BEAT_TASKS: tuple[tuple[str, str, float, dict[str, Any]], ...] = (
    # Lets /healthz tell "broker reachable" apart from "a worker is consuming".
    ("worker-heartbeat", "securedrive.tasks.worker_heartbeat", WORKER_HEARTBEAT_S, {}),
    # Every five minutes, so a departure takes effect within minutes of its date starting
    # (one indexed query when nobody is due).
    ("accounts-departures", "accounts.tasks.departures_due_process", 300.0, {}),
    # Files lifecycle (docs/storage.md).
    ("files-version-retention", "files.tasks.versions_retention_apply", 3600.0, {}),
    ("files-trash-purge", "files.tasks.trash_purge_expired", 3600.0, {}),
    ("files-scrub", "files.tasks.blobs_scrub", 6 * 3600.0, {}),
    ("files-uploads-expired", "files.tasks.uploads_expired_delete", 3600.0, {}),
    # The broker alone is not trusted to keep finalize messages (FIELD-NOTES).
    ("files-versions-stuck", "files.tasks.versions_stuck_requeue", SCAN_SWEEP_S, {}),
    # Sharing (docs/sharing-*.md).
    ("sharing-transfers-expired-purge", "sharing.tasks.transfers_expired_purge", 3600.0, {}),
    (
        "sharing-request-reservations-release",
        "sharing.tasks.file_request_reservations_release",
        3600.0,
        {},
    ),
    # Access reviews: daily, each opens only what is due (docs/access-reviews.md).
    ("reviews-open", "reviews.tasks.access_reviews_open", 24 * 3600.0, {}),
    ("reviews-escalate", "reviews.tasks.access_reviews_escalate", 24 * 3600.0, {}),
    # Audit log (docs/audit.md): alert rules, checkpoints, verification, retention. The
    # frequent verification is incremental; a full recomputation runs less often.
    ("audit-alerts", "audit.tasks.alerts_evaluate", AUDIT_ALERT_INTERVAL_S, {}),
    # How many requests each rate limit refused in a window that has ended (audit/floods.py).
    ("audit-refusal-floods", "audit.tasks.refusal_floods_close", 60.0, {}),
    ("audit-checkpoint", "audit.tasks.checkpoint_write_due", AUDIT_CHECKPOINT_INTERVAL_S, {}),
    ("audit-verify", "audit.tasks.audit_log_verify_and_alert", AUDIT_VERIFY_INTERVAL_S, {}),
    (
        "audit-verify-full",
        "audit.tasks.audit_log_verify_and_alert",
        AUDIT_VERIFY_FULL_INTERVAL_S,
        {"full": True},
    ),
    ("audit-retention-purge", "audit.tasks.audit_retention_purge", AUDIT_RETENTION_INTERVAL_S, {}),
)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    name: {"task": task, "schedule": every_s, **({"kwargs": kwargs} if kwargs else {})}
    for name, task, every_s, kwargs in BEAT_TASKS
}
