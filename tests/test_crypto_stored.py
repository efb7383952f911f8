"""An operator recovers a file with docs/encryption-format.md and nothing else: the
database row read with SQL, the keyring file read as JSON, the blob read from the
storage folder, and the independent decryptor of tests/test_crypto.py (written from the
document). Also an upload still in progress, from its staging file and its carry.

Nothing here calls the files app to decrypt or unwrap: if the document is wrong or
incomplete about a column, an encoding or an alphabet, these tests fail."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection

from accounts.models import User
from tests.files_helpers import Backend, content_of, root_of
from tests.test_crypto import independent_decrypt
from tests.test_tus import create, location, patch, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


# --- What the document says, written out ---------------------------------------------


def doc_associated_data(raw_id: Any) -> bytes:
    """§4: "file-version:" and the id, lowercase and hyphenated, whatever the database
    returned (SQLite keeps 32 hex digits without hyphens)."""
    text = str(raw_id).lower().replace("-", "")
    assert len(text) == 32
    canonical = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return b"file-version:" + canonical.encode("ascii")


def doc_keyring() -> dict[str, bytes]:
    """§9b: JSON, keys in standard base64 (RFC 4648 §4)."""
    with open(settings.KEYRING_FILE, encoding="utf-8") as handle:
        document = json.load(handle)
    assert document["format"] == "securedrive-keyring/1"
    return {
        key_id: base64.b64decode(encoded, altchars=b"+/", validate=True)
        for key_id, encoded in document["keys"].items()
    }


def doc_unwrap(kek: bytes, wrapped: bytes, associated_data: bytes) -> bytes:
    """§5: 0x01 ‖ 12-byte nonce ‖ AES-256-GCM(DEK) ‖ tag, AAD = the version's AD."""
    assert len(wrapped) == 61
    assert wrapped[0] == 1
    return AESGCM(kek).decrypt(wrapped[1:13], wrapped[13:], associated_data)


def sql_one(query: str, *params: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        names = [column[0] for column in cursor.description]
        found = cursor.fetchone()
    assert found is not None
    return dict(zip(names, found, strict=True))


def recover(backend: Backend, file_name: str) -> bytes:
    """Decrypt the current version of ``file_name`` from row + keyring + blob."""
    row = sql_one(
        "SELECT v.id, v.kek_id, v.wrapped_data_key, v.blob_key, v.ciphertext_size, v.size,"
        " v.segment_size FROM files_fileversion v JOIN files_file f ON f.current_version_id"
        " = v.id WHERE f.name = %s",
        file_name,
    )
    associated_data = doc_associated_data(row["id"])
    data_key = doc_unwrap(
        doc_keyring()[row["kek_id"]], bytes(row["wrapped_data_key"]), associated_data
    )
    assert backend.root is not None
    blob = (backend.root / row["blob_key"]).read_bytes()
    assert len(blob) == row["ciphertext_size"]
    assert int.from_bytes(blob[7:11], "big") == row["segment_size"]  # §9b: the same S
    plaintext = independent_decrypt(blob, data_key, associated_data)
    assert len(plaintext) == row["size"]
    return plaintext


# --- Stories ---------------------------------------------------------------------------


def test_a_file_uploaded_over_tus_is_recovered_from_row_keyring_and_blob(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    content = content_of(5000, seed="recovered")
    url = location(create(api, len(content), name="echo-coeur.dcm"))
    with django_capture_on_commit_callbacks(execute=True):
        assert patch(api, url, 0, content[:1234]).status_code == 204
        assert patch(api, url, 1234, content[1234:]).status_code == 204
    assert recover(folder_backend, "echo-coeur.dcm") == content


def test_a_file_uploaded_in_one_request_is_recovered_the_same_way(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(777, seed="one-request")
    response = api.post(
        f"/api/v1/files/folders/{root_of(owner).pk}/upload/?name=courrier.pdf",
        content,
        content_type="application/octet-stream",
    )
    assert response.status_code == 201, response.content
    assert recover(folder_backend, "courrier.pdf") == content


def test_an_upload_in_progress_is_readable_from_its_staging_file_and_carry(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(5000, seed="in-progress")
    url = location(create(api, len(content)))
    assert patch(api, url, 0, content[:1000]).status_code == 204

    row = sql_one(
        "SELECT id, new_version_id, kek_id, wrapped_key, blob_header, segment_size,"
        ' "offset", length, parts, carry FROM files_uploadsession WHERE id = %s',
        url.rstrip("/").split("/")[-1],
    )
    associated_data = doc_associated_data(row["new_version_id"])
    data_key = doc_unwrap(doc_keyring()[row["kek_id"]], bytes(row["wrapped_key"]), associated_data)
    header, size, offset = bytes(row["blob_header"]), row["segment_size"], row["offset"]
    parts = json.loads(row["parts"]) if isinstance(row["parts"], str) else row["parts"]
    assert backend_part_offsets(parts) == [0]  # the folder backend: one staging file
    assert folder_backend.root is not None
    staging = (folder_backend.root / parts[0]["key"]).read_bytes()
    assert staging[:50] == header

    # §1 and §2 under the row's header: the committed whole segments, none of them the last.
    blob_key = HKDF(
        algorithm=SHA256(),
        length=32,
        salt=header[11:43],
        info=b"securedrive blob v1" + associated_data,
    ).derive(data_key)
    recovered = bytearray()
    for index in range(offset // size):
        start = 50 + index * (size + 16)
        nonce = header[43:50] + index.to_bytes(4, "big") + b"\x00"
        recovered += AESGCM(blob_key).decrypt(nonce, staging[start : start + size + 16], header)

    # §9b: the carry, under its own key, bound to the upload id and its place.
    remainder = offset % size
    carry = bytes(row["carry"])
    assert len(carry) == 12 + remainder + 16
    carry_key = HKDF(
        algorithm=SHA256(),
        length=32,
        salt=None,
        info=b"securedrive upload carry v1" + associated_data,
    ).derive(data_key)
    upload_id = bytes.fromhex(str(row["id"]).replace("-", ""))
    carry_aad = upload_id + (offset - remainder).to_bytes(8, "big") + remainder.to_bytes(8, "big")
    recovered += AESGCM(carry_key).decrypt(carry[:12], carry[12:], carry_aad)

    assert bytes(recovered) == content[:1000]


def backend_part_offsets(parts: list[dict[str, Any]]) -> list[int]:
    return [int(part["offset"]) for part in parts]
