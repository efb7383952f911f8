"""Real DICOM peers for the ingest tests and the bench: dcmtk's command-line tools and an
Orthanc server of the test's own (free loopback ports, a temporary folder), and the
C-STORE receiver started in the test process.

Under CI=true a missing tool fails its tests (tests/conftest.py ``missing_service``):
.ci/run installs ``dcmtk``, ``orthanc`` and ``orthanc-dicomweb`` from Debian.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ORTHANC_DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool(name: str) -> str | None:
    return shutil.which(name)


def dataset_bytes(part10: bytes) -> bytes:
    """A Part 10 file's data set, after the preamble and the file meta group: what a
    C-STORE carries (the meta group is written anew by each receiver, PS3.10 7.1)."""
    assert part10[128:132] == b"DICM"
    # (0002,0000) UL, explicit VR little endian: tag 4 + VR 2 + length 2, value 4 bytes.
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length :]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storescu(
    *, port: int, files: list[Path], calling_ae: str, called_ae: str = "SECUREDRIVE"
) -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu sending every file over one association, in order. ``-xr``
    also proposes RLE Lossless (by default storescu proposes only uncompressed syntaxes
    and cannot send an RLE file as it is); the receiver then accepts each file's own
    syntax (imaging/dimse.py ``ACCEPT_ORDER``)."""
    return subprocess.run(
        [
            "storescu",
            "-xr",
            "-aet",
            calling_ae,
            "-aec",
            called_ae,
            "127.0.0.1",
            str(port),
            *[str(path) for path in files],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Orthanc:
    """An Orthanc process on free loopback ports with a temporary storage folder."""

    def __init__(
        self,
        root: Path,
        *,
        ae_title: str,
        modalities: dict[str, list[Any]],
        dicomweb: dict[str, Any],
    ) -> None:
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        config: dict[str, Any] = {
            "Name": "securedrive-test",
            "StorageDirectory": str(root / "storage"),
            "IndexDirectory": str(root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomModalities": modalities,
            "StorageCompression": False,
            "Plugins": [str(ORTHANC_DICOMWEB_PLUGIN)] if dicomweb else [],
            "DicomWeb": {"Enable": True, "Servers": dicomweb},
            "HttpTimeout": 120,
        }
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "orthanc.json"
        self.config_path.write_text(json.dumps(config))
        self.log = (root / "orthanc.log").open("w")
        self.process = subprocess.Popen(
            ["Orthanc", "--logdir=" + str(root), str(self.config_path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/system", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not start (see {root / 'orthanc.log'})")

    def post(self, path: str, **kwargs: Any) -> Any:
        response = requests.post(self.url + path, timeout=300, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        response = requests.get(self.url + path, timeout=60)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def orthanc_running(
    root: Path,
    *,
    ae_title: str = "ORTHANC",
    modalities: dict[str, list[Any]],
    dicomweb: dict[str, Any] | None = None,
) -> Iterator[Orthanc]:
    server = Orthanc(root, ae_title=ae_title, modalities=modalities, dicomweb=dicomweb or {})
    try:
        yield server
    finally:
        server.stop()
