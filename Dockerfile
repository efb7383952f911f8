# SecureDrive image for production: web (gunicorn), worker and beat (Celery) alike.
# docker-compose.yml builds it; docs/production.md explains the deployment.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# libmagic: content-type detection of uploads.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid: the secret files on the host are owned by it (deploy/secrets/README.md).
RUN groupadd --system --gid 10001 securedrive \
    && useradd --system --uid 10001 --gid securedrive --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin securedrive

# Dependencies first, for the build cache: exact versions, every file checked against
# its hash, nothing resolved at build time.
COPY requirements/base.txt /tmp/requirements-base.txt
RUN python -m venv /opt/venv \
    && pip install --require-hashes --no-deps -r /tmp/requirements-base.txt \
    && rm /tmp/requirements-base.txt

WORKDIR /app
COPY . /app
# The project's bytecode, compiled once here: PYTHONDONTWRITEBYTECODE=1 keeps processes
# from writing it, so without this every worker would compile the sources at start
# (pip has already compiled the dependencies').
RUN python -m compileall -q /app
# The code stays root-owned and read-only for the service; var/ (static files, the beat
# schedule) is its only writable folder. Secrets never enter the image: they are
# mounted at run time under /run/secrets/.
RUN install --directory --owner securedrive --group securedrive --mode 0700 /app/var

USER securedrive:securedrive

ENV SECUREDRIVE_PROFILE=production \
    SECUREDRIVE_BIND=0.0.0.0:8000

EXPOSE 8000

CMD ["gunicorn", "--config", "securedrive/gunicorn.conf.py", "securedrive.wsgi"]
