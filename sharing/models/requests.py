"""File requests: a link through which someone outside uploads into a folder."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class FileRequest(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="file_requests"
    )
    folder = models.ForeignKey("files.Folder", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    instructions = models.TextField(_("instructions"), blank=True, max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    max_files = models.PositiveIntegerField(_("at most (files)"))
    max_bytes = models.PositiveBigIntegerField(_("at most (bytes in all)"))
    # Reserved at upload creation (tus POST), so concurrent uploads cannot overrun.
    files_reserved = models.PositiveIntegerField(default=0)
    bytes_reserved = models.PositiveBigIntegerField(default=0)
    notify_owner = models.BooleanField(_("e-mail me when files arrive"), default=True)

    def __str__(self) -> str:
        return self.title


class FileRequestUpload(models.Model):
    """One upload through a file request (an upload session, then a file version)."""

    request = models.ForeignKey(FileRequest, on_delete=models.CASCADE, related_name="uploads")
    upload = models.OneToOneField(
        "files.UploadSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.ForeignKey(
        "files.FileVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    uploader_name = models.CharField(max_length=200, blank=True)
    uploader_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # An unfinished upload holds its place in the request's limits (counted in
    # ``files_reserved``/``bytes_reserved``) only while it is alive: until ``held_until``,
    # moved on by every PATCH. Past it, the place is given back (``holds_place`` false)
    # the next time someone needs it; the upload takes a place again when it resumes,
    # if one is free (sharing/services/file_requests.py).
    holds_place = models.BooleanField(default=True)
    held_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
