"""WSGI entry point (gunicorn). SecureDrive is served under WSGI only: see settings."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")

application = get_wsgi_application()

if settings.PRODUCTION:
    # A role that could switch the audit trigger off is refused before serving anyone.
    from securedrive.database_roles import production_start_refuse_unsafe

    production_start_refuse_unsafe()
