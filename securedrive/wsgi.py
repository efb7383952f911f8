"""WSGI entry point (gunicorn). SecureDrive is served under WSGI only: see settings."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")

application = get_wsgi_application()
