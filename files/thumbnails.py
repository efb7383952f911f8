"""Thumbnails: a small picture of each image and PDF, made after a clean scan.

* **Made once, by a worker.** ``files.services.finalize`` enqueues
  ``files.tasks.version_thumbnail_make`` when a verdict lets a version be served; the
  task does only what is missing (running twice stores one thumbnail). Images go
  through the preview's Pillow rendition (allow-listed formats, pixel budget); a PDF's
  first page is drawn by PDFium (pypdfium2) in memory. Videos get none: without ffmpeg
  there is no cheap, safe way to decode a frame (docs/previews.md).
* **Stored like content.** The JPEG is sealed in the blob format (files/crypto.py)
  under a fresh data key of its own, wrapped by the keyring, bound to
  ``file-version-thumbnail:<version id>``: a thumbnail blob or key moved onto another
  row, or onto the version itself, fails authentication. Nothing is written in clear.
* **Shredded with the version.** ``versions_shred`` and the retention purge destroy its
  wrapped key with the version's; ``shredded_blobs_delete`` deletes its blob first.
* **Served only when the version may be.** The thumbnail address goes through the same
  selectors as the file, and refuses what a download would (scan, integrity, shred).
  A thumbnail shows the picture (a wound, an X-ray) at 320 px: the person who saw it is
  recorded (``files.version.view`` with ``rendition: "thumbnail"``), once an hour per
  person and version, since a folder page asks for dozens each time it is shown
  (``no-store``). Opening a folder is not recorded, so without this nothing said who
  saw a patient's photo in a listing.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import User
from audit.context import context_from_request
from files.crypto import BlobDecryptor, encrypt_stream, generate_data_key
from files.envelope import (
    EnvelopeError,
    WrappedKey,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from files.keys import keyring
from files.models import FileVersion, VersionThumbnail
from files.previews import (
    PreviewKind,
    PreviewUnavailable,
    image_rendition,
    preview_kind,
    source_max_bytes,
    version_image_rendition,
    version_plaintext,
    version_view_record,
)
from files.storage import blob_key_new, blob_store

logger = logging.getLogger(__name__)

THUMBNAIL_EDGE = 320
# One segment holds a whole thumbnail (~10-30 KB).
THUMBNAIL_SEGMENT_SIZE = 64 * 1024


def thumbnail_associated_data(version_id: uuid.UUID | str) -> bytes:
    return b"file-version-thumbnail:" + str(uuid.UUID(str(version_id))).encode("ascii")


def pdf_first_page(source: bytes, *, max_edge: int = THUMBNAIL_EDGE) -> bytes:
    """The first page of a PDF as a JPEG, drawn by PDFium in memory."""
    import pypdfium2  # imported here: only the worker making thumbnails needs PDFium

    try:
        document = pypdfium2.PdfDocument(source)
    except pypdfium2.PdfiumError as error:
        raise PreviewUnavailable("undecodable: PdfiumError") from error
    try:
        if len(document) == 0:
            raise PreviewUnavailable("no_pages")
        page = document[0]
        width, height = page.get_size()
        scale = max_edge / max(width, height, 1.0)
        bitmap = page.render(scale=scale)
        picture = bitmap.to_pil().convert("RGB")
        out = io.BytesIO()
        picture.save(out, format="PNG")
        page.close()
    finally:
        document.close()
    return image_rendition(out.getvalue(), formats=("PNG",), max_edge=max_edge).content


def thumbnail_expected(version: FileVersion) -> bool:
    """Whether content of this kind gets a thumbnail (photos and PDFs; not videos)."""
    return preview_kind(version) in (PreviewKind.IMAGE, PreviewKind.PDF)


def thumbnail_picture(version: FileVersion) -> bytes | None:
    """The thumbnail's JPEG or PNG, or None for a kind that gets none."""
    kind = preview_kind(version)
    if kind == PreviewKind.IMAGE:
        return version_image_rendition(version, max_edge=THUMBNAIL_EDGE).content
    if kind == PreviewKind.PDF:
        if version.size > source_max_bytes():
            raise PreviewUnavailable("too_large")
        return pdf_first_page(version_plaintext(version, limit=version.size))
    return None


def version_thumbnail_make(*, version_id: uuid.UUID | str) -> bool:
    """Make and store the thumbnail of a servable version if it has none. True if one
    was stored now. Content it cannot draw (damaged, too large) gets none, logged."""
    version = FileVersion.objects.select_related("file").filter(pk=version_id).first()
    if version is None or not version.is_downloadable:
        return False
    if VersionThumbnail.objects.filter(version_id=version.pk).exists():
        return False
    try:
        picture = thumbnail_picture(version)
    except PreviewUnavailable as unavailable:
        logger.info("no thumbnail for version %s: %s", version.pk, unavailable.reason)
        return False
    if picture is None:
        return False
    return _store(version, picture)


def _store(version: FileVersion, picture: bytes) -> bool:
    data_key = generate_data_key()
    bound_to = thumbnail_associated_data(version.pk)
    wrapped = wrap_data_key(keyring(), data_key, bound_to)
    key = blob_key_new()
    writer = blob_store().writer(key)
    try:
        for chunk in encrypt_stream(data_key, bound_to, [picture], THUMBNAIL_SEGMENT_SIZE):
            writer.write(chunk)
        ciphertext_size = writer.commit()
    except BaseException:
        writer.abort()
        raise
    from PIL import Image

    with Image.open(io.BytesIO(picture)) as shown:
        width, height = shown.size
    try:
        with transaction.atomic():
            # The version may have been shredded meanwhile: then no thumbnail.
            alive = (
                FileVersion.objects.select_for_update(no_key=True)
                .filter(pk=version.pk, shredded_at__isnull=True)
                .exists()
            )
            if not alive:
                raise IntegrityError("version shredded")
            VersionThumbnail.objects.create(
                version=version,
                blob_key=key,
                wrapped_data_key=wrapped.wrapped,
                kek_id=wrapped.kek_id,
                ciphertext_size=ciphertext_size,
                width=width,
                height=height,
            )
    except IntegrityError:
        # Another run stored one first, or the version is gone: ours is not needed.
        blob_store().delete(key)
        return False
    return True


def thumbnail_picture_read(thumbnail: VersionThumbnail) -> bytes:
    """The thumbnail's plaintext, authenticated (``EnvelopeError``/``BlobIntegrityError``
    otherwise)."""
    if thumbnail.wrapped_data_key is None:
        raise PreviewUnavailable("shredded")
    bound_to = thumbnail_associated_data(thumbnail.version_id)
    data_key = unwrap_data_key(
        keyring(), WrappedKey(thumbnail.kek_id, bytes(thumbnail.wrapped_data_key)), bound_to
    )
    reader = blob_store().reader(thumbnail.blob_key, span=(0, thumbnail.ciphertext_size))
    try:
        decryptor = BlobDecryptor(data_key, bound_to, reader.read_at, thumbnail.ciphertext_size)
        return b"".join(decryptor.decrypt_all())
    finally:
        reader.close()


def thumbnail_ready_ids(version_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these versions have a thumbnail to show (one query for a whole list)."""
    return set(
        VersionThumbnail.objects.filter(
            version_id__in=version_ids, wrapped_data_key__isnull=False
        ).values_list("version_id", flat=True)
    )


def _blob_delete_later(key: str) -> Callable[[], None]:
    return lambda: blob_store().delete(key)


def thumbnails_rewrap(*, batch_size: int = 500) -> int:
    """Key rotation (``files.lifecycle.data_keys_rewrap``): re-wrap the thumbnails' data
    keys under the current KEK. A thumbnail whose key does not unwrap is dropped (row and
    blob): it is derived content, and a worker can draw it again."""
    ring = keyring()
    current = ring.current_key_id
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(
                VersionThumbnail.objects.select_for_update()
                .filter(wrapped_data_key__isnull=False)
                .exclude(kek_id=current)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return rewrapped
            for thumbnail in batch:
                bound_to = thumbnail_associated_data(thumbnail.version_id)
                wrapped = WrappedKey(thumbnail.kek_id, bytes(thumbnail.wrapped_data_key or b""))
                try:
                    fresh = rewrap_data_key(ring, wrapped, bound_to)
                except EnvelopeError:
                    logger.warning("thumbnail of version %s dropped: key", thumbnail.version_id)
                    thumbnail.delete()
                    transaction.on_commit(_blob_delete_later(thumbnail.blob_key), robust=True)
                    continue
                thumbnail.kek_id, thumbnail.wrapped_data_key = fresh.kek_id, fresh.wrapped
                thumbnail.save(update_fields=["kek_id", "wrapped_data_key"])
                rewrapped += 1


# A folder page asks again for every thumbnail each time it is shown: one event per
# person, version and hour says who saw the picture without one row per page view.
THUMBNAIL_VIEW_RECORD_SECONDS = 3600


def thumbnail_view_record(*, version: FileVersion, actor: User, request: HttpRequest) -> None:
    """``files.version.view`` (rendition ``thumbnail``), at most once an hour per person
    and version. Cache unavailable: recorded (better twice than never)."""
    key = f"files:thumbnail-seen:{actor.pk}:{version.pk}"
    try:
        first_in_the_hour = cache.add(key, 1, timeout=THUMBNAIL_VIEW_RECORD_SECONDS)
    except Exception:  # a cache outage must not hide the view
        logger.warning("cache unavailable: thumbnail view recorded without de-duplication")
        first_in_the_hour = True
    if first_in_the_hour:
        version_view_record(
            version=version,
            actor=actor,
            context=context_from_request(request),
            rendition="thumbnail",
        )
