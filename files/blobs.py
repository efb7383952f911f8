"""Where a version's encrypted content is: the one lookup every read path uses.

A version holds its own blob and wrapped data key, or shares another version's (a copy
or a restored old version, ``FileVersion.content_holder``: ARCHITECTURE invariant 9,
blobs are immutable and shared by reference). Downloads (and their ranges), previews,
thumbnails, ZIP archives, the scanner, the DICOM reader, the integrity scrub and the
full re-encryption all read through ``version_content``, so none of them can pair a
sharer's id with the holder's blob: the holder's id stays the associated data of both
the blob and the wrapped key, and a key copied onto another row still fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from files.crypto import BlobDecryptor
from files.envelope import EnvelopeError
from files.keys import associated_data, data_key_unwrap
from files.models import FileVersion
from files.storage import BlobReader, blob_store


@dataclass(frozen=True)
class VersionContent:
    """The holder's blob and key, read from the database once (plain values: safe to
    hand to an archive's helper thread, which must not touch the database)."""

    holder_id: uuid.UUID
    blob_key: str
    ciphertext_size: int
    segment_size: int
    kek_id: str
    wrapped_data_key: bytes | None

    @property
    def associated_data(self) -> bytes:
        return associated_data(self.holder_id)

    def data_key(self) -> bytes:
        """The data key, unwrapped (``EnvelopeError`` if destroyed or tampered with)."""
        if self.wrapped_data_key is None:
            raise EnvelopeError("this version's data key was destroyed")
        return data_key_unwrap(
            version_id=self.holder_id, kek_id=self.kek_id, wrapped=self.wrapped_data_key
        )

    def reader(self, span: tuple[int, int] | None = None) -> BlobReader:
        """A ranged reader of the blob (the whole blob by default); the caller closes it."""
        return blob_store().reader(self.blob_key, span=span or (0, self.ciphertext_size))

    def decryptor(self, data_key: bytes, reader: BlobReader) -> BlobDecryptor:
        return BlobDecryptor(data_key, self.associated_data, reader.read_at, self.ciphertext_size)


def content_holder_of(version: FileVersion) -> FileVersion:
    """The version holding ``version``'s blob and key: itself, or its ``content_holder``."""
    if version.content_holder_id is None:
        return version
    holder = version.content_holder
    assert holder is not None  # noqa: S101  (the foreign key is PROTECTed)
    return holder


def version_content(version: FileVersion) -> VersionContent:
    holder = content_holder_of(version)
    return VersionContent(
        holder_id=holder.pk,
        blob_key=holder.blob_key,
        ciphertext_size=holder.ciphertext_size,
        segment_size=holder.segment_size,
        kek_id=holder.kek_id,
        wrapped_data_key=(
            None if holder.wrapped_data_key is None else bytes(holder.wrapped_data_key)
        ),
    )
