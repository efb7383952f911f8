"""The per-byte work of a SecureDrive download with nothing around it, for bench/download.py.

Serves one blob (files/crypto.py format) as plaintext to every GET on 127.0.0.1, using
the product's own decryption (``files.crypto.BlobDecryptor`` over ``file_read_at``) and
its own decrypt-ahead hand-over (``files.ahead``), then ``sendall`` on a raw socket: no
Django, no gunicorn, no session, no access check, no audit. What SecureDrive costs
above this is what the web framework and the security around the bytes cost; what
this costs above nginx's sendfile is what keeping files encrypted at rest costs.

    python bench/decrypt_floor.py PORT BLOB DATA_KEY_HEX ASSOCIATED_DATA [--one-thread]

Prints ``ready`` once listening; serves connections one after another until killed.
A measuring instrument: it trusts its arguments and answers every request alike.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from files.ahead import produced_ahead
from files.crypto import BlobDecryptor, file_read_at


def serve(
    connection: socket.socket, blob: Path, data_key: bytes, associated: bytes, *, ahead: bool
) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = connection.recv(8192)
        if not chunk:
            return
        request += chunk
    size = os.path.getsize(blob)
    with blob.open("rb", buffering=0) as file:
        decryptor = BlobDecryptor(data_key, associated, file_read_at(file), size)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % decryptor.plaintext_size
        )
        segments = decryptor.decrypt_all()
        for segment in produced_ahead(segments) if ahead else segments:
            connection.sendall(segment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("blob", type=Path)
    parser.add_argument("data_key_hex")
    parser.add_argument("associated_data")
    parser.add_argument("--one-thread", action="store_true", help="no decrypt-ahead thread")
    args = parser.parse_args()
    data_key, associated = bytes.fromhex(args.data_key_hex), args.associated_data.encode()
    with socket.create_server(("127.0.0.1", args.port)) as listener:
        print("ready", flush=True)
        while True:
            connection, _address = listener.accept()
            with connection:
                try:
                    serve(connection, args.blob, data_key, associated, ahead=not args.one_thread)
                except OSError:
                    continue  # the client went away


if __name__ == "__main__":
    main()
