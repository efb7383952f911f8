"""gunicorn settings (WSGI; see settings.WSGI_APPLICATION for why not ASGI)."""

import os

bind = os.environ.get("SECUREDRIVE_BIND", "127.0.0.1:8000")
# Threads keep long downloads and tus PATCHes from holding a whole process each, and
# the gthread worker heartbeats from its main thread, so a long transfer is not killed.
worker_class = "gthread"
workers = int(os.environ.get("SECUREDRIVE_WEB_WORKERS", "2"))
threads = int(os.environ.get("SECUREDRIVE_WEB_THREADS", "8"))
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
logger_class = "securedrive.gunicorn_logging.UTCLogger"
# No query strings in the access log: they could carry a link token.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("SECUREDRIVE_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
