"""gunicorn settings (WSGI; see settings.WSGI_APPLICATION for why not ASGI)."""

import hashlib
import os
import tempfile
from pathlib import Path

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
# No query strings in the access log: they could carry a secret. The tokens in paths
# (/s/<token>/, /r/<token>/) are replaced by the formatter (core/log_format.py).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("SECUREDRIVE_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def _control_socket_path() -> str:
    """Each instance's own control socket, under its data directory.

    gunicorn's default (``$XDG_RUNTIME_DIR`` or ``~/.gunicorn/gunicorn.ctl``) is one path
    per user: a second instance on the machine (a test server, a second checkout) took
    over the first one's socket, and ``gunicornc`` then drove the wrong server. A Unix
    socket path is limited to 107 bytes; a deeper data directory gets a short path in
    the temporary folder named after it.
    """
    data_dir = Path(
        os.environ.get("SECUREDRIVE_DATA_DIR", Path(__file__).resolve().parent.parent / "var")
    ).resolve()
    path = data_dir / "run" / "gunicorn.ctl"
    if len(os.fsencode(path)) > 100:
        digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"securedrive-{digest}" / "gunicorn.ctl"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(path)


control_socket = _control_socket_path()
