"""A CT room and a PACS push studies into SecureDrive: by DIMSE C-STORE (dcmtk's storescu,
Orthanc) into the receiver, and by DICOMweb STOW-RS (Python requests, Orthanc's DICOMweb
client). Every instance lands encrypted in the chosen folder, is scanned and indexed, and
comes back byte-identical on download (docs/imaging.md, "Ingest")."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.test.utils import override_settings
from pydicom import dcmread
from pydicom.uid import UID

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, FileVersion, Folder, ScanStatus
from imaging.dimse import Receiver, ReceiverConfig, destination_resolve, peers_parse
from imaging.models import Study
from imaging.multipart import MultipartError, MultipartReader
from tests.conftest import missing_service
from tests.dicom_factory import Study as FactoryStudy
from tests.dicom_factory import ct_study
from tests.files_helpers import Backend, root_of
from tests.imaging_peers import (
    ORTHANC_DICOMWEB_PLUGIN,
    dataset_bytes,
    free_port,
    orthanc_running,
    sha256,
    storescu,
    tool,
)

STOW = "/api/v1/imaging/dicomweb/folders/{folder}/studies"


def token_of(user: User, *scopes: str) -> str:
    _token, plaintext = tokens.token_create(
        actor=user, name=f"PACS {uuid.uuid4().hex[:6]}", scopes=list(scopes), expires_in_days=30
    )
    return plaintext


def needs(name: str) -> str:
    path = tool(name)
    if path is None:
        missing_service(f"{name} is not installed (Debian package dcmtk or orthanc)")
    assert path is not None
    return path


def written(study: FactoryStudy, folder: Path) -> list[Path]:
    paths = []
    for instance in study.instances:
        path = folder / instance.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(instance.data)
        paths.append(path)
    return paths


def multipart_related(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    body = io.BytesIO()
    body.write(b"preamble to ignore\r\n")
    for content_type, data in parts:
        body.write(f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode())
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\nepilogue".encode())
    return body.getvalue()


def downloaded(reader: Client, file: File) -> bytes:
    response = reader.get(f"/api/v1/files/{file.pk}/content/")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def landed_files(folder: Folder) -> dict[str, File]:
    """SOP Instance UID -> file, for every file under ``folder`` (any depth)."""
    found: dict[str, File] = {}
    for file in File.objects.filter(deleted_at__isnull=True).select_related("current_version"):
        node: Folder | None = file.folder
        while node is not None and node.pk != folder.pk:
            node = node.parent
        if node is not None:
            found[file.name.removesuffix(".dcm")] = file
    return found


@pytest.fixture
def receiver(owner: User, clamd: str) -> Iterator[tuple[int, Folder]]:
    """The C-STORE receiver on a free loopback port, allowing CT_ROOM_2 from 127.0.0.1
    and PACS_MAIN from anywhere, landing in the owner's "From the CT room" folder."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="From the CT room")
    config = ReceiverConfig.from_settings(
        host="127.0.0.1",
        port=free_port(),
        ae_title="SECUREDRIVE",
        peers=peers_parse(["CT_ROOM_2@127.0.0.1", "PACS_MAIN"]),
        owner_email=owner.email,
        folder_id=folder.pk,
    )
    server = Receiver(config=config, destination=destination_resolve(config)).start(block=False)
    try:
        yield config.port, folder
    finally:
        server.shutdown()


# --- DIMSE C-STORE ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ct_room_storescu_lands_every_instance_scanned_indexed_and_identical(
    owner: User, receiver: tuple[int, Folder], tmp_path: Path
) -> None:
    needs("storescu")
    port, folder = receiver
    study = ct_study(instances_per_series=(20, 12))  # uncompressed and RLE Lossless
    result = storescu(port=port, files=written(study, tmp_path), calling_ae="CT_ROOM_2")
    assert result.returncode == 0, result.stderr

    files = landed_files(folder)
    assert set(files) == {instance.sop_instance_uid for instance in study.instances}
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'read')}")
    for instance in study.instances:
        file = files[instance.sop_instance_uid]
        assert file.folder.name == instance.series_instance_uid
        assert file.folder.parent is not None
        assert file.folder.parent.name == study.study_instance_uid
        version = file.current_version
        assert version is not None
        assert version.scan_status == ScanStatus.AVAILABLE
        body = downloaded(reader, file)
        # C-STORE carries the data set, not the file meta (each receiver writes its own):
        # the data set is byte for byte what the modality had, in its transfer syntax.
        assert sha256(dataset_bytes(body)) == sha256(dataset_bytes(instance.data))
        meta = dcmread(io.BytesIO(body), stop_before_pixels=True).file_meta
        assert meta.TransferSyntaxUID == instance.dataset.file_meta.TransferSyntaxUID
        assert meta.MediaStorageSOPInstanceUID == instance.sop_instance_uid

    indexed = Study.objects.get(study_instance_uid=study.study_instance_uid)
    assert sorted(s.instances.count() for s in indexed.series.all()) == [12, 20]
    accepted = AuditEvent.objects.get(action=Action.IMAGING_DICOM_ASSOCIATION_ACCEPT)
    assert (accepted.details["calling_ae"], accepted.ip_address) == ("CT_ROOM_2", "127.0.0.1")
    stored = AuditEvent.objects.get(action=Action.IMAGING_INGEST_STORE)
    assert stored.details["stored"] == 32
    assert stored.details["failed"] == 0
    assert stored.details["studies"] == [study.study_instance_uid]
    assert stored.details["via"] == "c-store"
    uploads = AuditEvent.objects.filter(action=Action.FILES_FILE_UPLOAD)
    assert uploads.count() == 32
    assert {event.user_agent for event in uploads} == {"DICOM AE CT_ROOM_2"}


@pytest.mark.django_db(transaction=True)
def test_unknown_ae_title_or_wrong_address_is_refused_and_audited(
    owner: User, receiver: tuple[int, Folder], tmp_path: Path
) -> None:
    needs("storescu")
    port, folder = receiver
    paths = written(ct_study(instances_per_series=(2,)), tmp_path)

    intruder = storescu(port=port, files=paths, calling_ae="INTRUDER")
    assert intruder.returncode != 0
    assert "rejected" in (intruder.stderr + intruder.stdout).lower()
    refused = AuditEvent.objects.get(action=Action.IMAGING_DICOM_ASSOCIATION_REFUSE)
    assert refused.details["calling_ae"] == "INTRUDER"
    assert refused.outcome == "denied"
    assert not landed_files(folder)
    assert not AuditEvent.objects.filter(action=Action.IMAGING_DICOM_ASSOCIATION_ACCEPT).exists()


def _huge_instance(template: bytes, megabytes: int) -> bytes:
    """One instance whose pixel data is ``megabytes`` MiB (a long multi-frame clip)."""
    dataset = dcmread(io.BytesIO(template))
    side = 1024
    frames = megabytes // 2  # 1024 x 1024 x 16 bits = 2 MiB a frame
    dataset.Rows = dataset.Columns = side
    dataset.NumberOfFrames = frames
    dataset.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    dataset.PixelData = bytes(side * side * 2 * frames)
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_instance_beyond_the_receivers_memory_is_refused_and_the_listener_lives_on(
    owner: User, clamd: str, tmp_path: Path
) -> None:
    """pynetdicom holds a received data set in memory until it is whole: a peer (or
    anyone who knows an allowed AE title) sending a multi-GB instance, ten associations
    at once, took the listener's memory without bound. Beyond the receiver's budget the
    instance is not kept in memory, fails with 0xA700 (the peer keeps it and may send it
    later), is named in the batch's audit event, and the next instance lands."""
    import tracemalloc

    needs("storescu")
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="From the CT room")
    config = ReceiverConfig.from_settings(
        host="127.0.0.1",
        port=free_port(),
        peers=peers_parse(["CT_ROOM_2@127.0.0.1"]),
        owner_email=owner.email,
        folder_id=folder.pk,
        memory_max_bytes=8 * 1024 * 1024,
    )
    study = ct_study(instances_per_series=(2,))
    big = tmp_path / "big.dcm"
    big.write_bytes(_huge_instance(study.instances[0].data, 40))
    small = tmp_path / "small.dcm"
    small.write_bytes(study.instances[1].data)
    server = Receiver(config=config, destination=destination_resolve(config)).start(block=False)
    tracemalloc.start()
    try:
        refused = storescu(port=config.port, files=[big], calling_ae="CT_ROOM_2")
        _current, peak = tracemalloc.get_traced_memory()
        # 0xA700 is "refused: out of resources": storescu stops its association there.
        landed = storescu(port=config.port, files=[small], calling_ae="CT_ROOM_2")
    finally:
        tracemalloc.stop()
        server.shutdown()

    assert peak < 30 * 1024 * 1024, f"{peak / 2**20:.0f} MiB held for a 40 MiB instance"
    assert refused.returncode != 0
    assert landed.returncode == 0, landed.stderr
    assert set(landed_files(folder)) == {study.instances[1].sop_instance_uid}
    first, second = AuditEvent.objects.filter(action=Action.IMAGING_INGEST_STORE).order_by("pk")
    assert (first.details["stored"], first.details["failed"]) == (0, 1)
    assert (second.details["stored"], second.details["failed"]) == (1, 0)
    failure = first.details["failures"][0]
    assert failure["reason"] == "0xA700"
    assert failure["sop_instance_uid"] == study.instances[0].sop_instance_uid
    assert "memory" in failure["problem"]


@pytest.mark.django_db(transaction=True)
def test_pacs_administrator_checks_the_link_with_echoscu(
    owner: User, receiver: tuple[int, Folder]
) -> None:
    needs("echoscu")
    port, _folder = receiver
    import subprocess

    result = subprocess.run(
        ["echoscu", "-aet", "PACS_MAIN", "-aec", "SECUREDRIVE", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_receiver_refuses_to_start_without_allow_list_owner_or_folder(
    owner: User, outsider: User
) -> None:
    from django.core.management import CommandError, call_command

    theirs = root_of(outsider)
    with pytest.raises(CommandError) as refused:
        call_command(
            "dicom_receiver", "--port", "11112", "--owner", owner.email, "--folder", str(theirs.pk)
        )
    message = str(refused.value)
    assert "no calling AE title is allowed" in message
    assert "may not add files to that folder" in message
    with override_settings(DICOM_PORT=0):
        out = io.StringIO()
        call_command("dicom_receiver", "--if-configured", stdout=out)
        assert "not configured" in out.getvalue()


def test_on_a_network_address_every_allowed_ae_title_is_pinned_or_said_to_be_from_anywhere(
    owner: User,
) -> None:
    """An AE title is a name anyone can type into a DICOM tool: allowed from any address,
    any computer of the hospital's network could push studies (fake images for a real
    patient) into the drive. On an address other than loopback, the receiver refuses to
    start until each title is pinned to its IP (AE@IP) or explicitly from anywhere (AE@*)."""
    from imaging.dimse import ReceiverConfigError

    folder = services.folder_create(actor=owner, parent=root_of(owner), name="From the PACS")
    unpinned = ReceiverConfig.from_settings(
        host="0.0.0.0",  # noqa: S104 (the setting under test)
        port=11112,
        peers=peers_parse(["PACS_MAIN", "CT_ROOM_2@10.1.2.3"]),
        owner_email=owner.email,
        folder_id=folder.pk,
    )
    with pytest.raises(ReceiverConfigError) as refused:
        destination_resolve(unpinned)
    message = str(refused.value)
    assert "PACS_MAIN" in message
    assert "CT_ROOM_2" not in message
    assert "AE@*" in message

    anywhere = ReceiverConfig.from_settings(
        host="0.0.0.0",  # noqa: S104
        port=11112,
        peers=peers_parse(["PACS_MAIN@*", "CT_ROOM_2@10.1.2.3"]),
        owner_email=owner.email,
        folder_id=folder.pk,
    )
    destination_resolve(anywhere)  # no error: the operator said so
    [pacs, ct] = anywhere.peers
    assert pacs.allows("PACS_MAIN", "192.0.2.7")
    assert not ct.allows("CT_ROOM_2", "192.0.2.7")


# --- DICOMweb STOW-RS ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pacs_stores_a_study_with_stow_rs_and_every_instance_comes_back_identical(
    owner: User, clamd: str, live_server: Any
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="PACS exports")
    study = ct_study(instances_per_series=(6, 4))
    boundary = f"sd-{uuid.uuid4().hex}"
    body = multipart_related([("application/dicom", i.data) for i in study.instances], boundary)

    response = requests.post(
        live_server.url + STOW.format(folder=folder.pk),
        data=body,
        headers={
            "Authorization": f"Bearer {token_of(owner, 'write')}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
        timeout=120,
    )

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/dicom+json")
    referenced = response.json()["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in referenced] == [
        instance.sop_instance_uid for instance in study.instances
    ]
    assert "00081198" not in response.json()
    files = landed_files(folder)
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'read')}")
    for instance in study.instances:
        assert sha256(downloaded(reader, files[instance.sop_instance_uid])) == sha256(instance.data)
    assert Study.objects.get(study_instance_uid=study.study_instance_uid).series.count() == 2
    stored = AuditEvent.objects.get(action=Action.IMAGING_INGEST_STORE)
    assert (stored.details["via"], stored.details["stored"]) == ("stow-rs", 10)


def stow(
    client: Client, folder: Folder, parts: list[tuple[str, bytes]], *, study: str = "", **extra: Any
) -> Any:
    boundary = "b0undary"
    path = STOW.format(folder=folder.pk) + (f"/{study}" if study else "")
    return client.post(
        path,
        data=multipart_related(parts, boundary),
        content_type=f'multipart/related; type="application/dicom"; boundary="{boundary}"',
        **extra,
    )


@pytest.mark.django_db
def test_stow_answers_in_xml_with_failed_instances_and_their_reasons(
    owner: User, folder_backend: Backend
) -> None:
    folder = root_of(owner)
    wanted, other = ct_study(instances_per_series=(2,)), ct_study(instances_per_series=(1,))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'write')}")
    parts = [
        ("application/dicom", wanted.instances[0].data),
        ("application/dicom", b"this is not DICOM at all" * 10),
        ("application/dicom", other.instances[0].data),
        ("text/plain", b"a note"),
        ("application/dicom", wanted.instances[1].data),
    ]

    response = stow(
        client,
        folder,
        parts,
        study=wanted.study_instance_uid,
        HTTP_ACCEPT="application/dicom+xml",
    )

    assert response.status_code == 202
    assert response["Content-Type"].startswith("application/dicom+xml")
    xml = response.content.decode()
    assert 'keyword="ReferencedSOPSequence"' in xml
    assert 'keyword="FailedSOPSequence"' in xml
    assert f">{other.instances[0].sop_instance_uid}<" in xml
    assert xml.count('keyword="FailureReason"') == 3
    assert f">{0xA900}<" in xml  # another study than the address names
    assert f">{0xC000}<" in xml  # not DICOM, not application/dicom
    assert set(landed_files(folder)) == {i.sop_instance_uid for i in wanted.instances}
    stored = AuditEvent.objects.get(action=Action.IMAGING_INGEST_STORE)
    assert (stored.details["stored"], stored.details["failed"]) == (2, 3)
    assert stored.outcome == "error"


@pytest.mark.django_db
def test_stow_refuses_what_is_not_a_dicom_multipart_with_an_audit_event(
    owner: User, outsider: User, folder_backend: Backend
) -> None:
    folder = root_of(owner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'write')}")
    instance = ct_study(instances_per_series=(1,)).instances[0]

    as_form = client.post(STOW.format(folder=folder.pk), data={"file": "x"})
    assert as_form.status_code == 415
    no_boundary = client.post(
        STOW.format(folder=folder.pk),
        data=b"--x\r\n\r\n--x--",
        content_type='multipart/related; type="application/dicom"',
    )
    assert no_boundary.status_code == 400
    truncated = client.post(
        STOW.format(folder=folder.pk),
        data=b"--b\r\nContent-Type: application/dicom\r\n\r\n" + instance.data[:2000],
        content_type='multipart/related; type="application/dicom"; boundary=b',
    )
    assert truncated.status_code == 400
    assert "closing boundary" in truncated.json()["detail"]
    bad_study = stow(client, folder, [("application/dicom", instance.data)], study="1.2.x")
    assert bad_study.status_code == 400
    refusals = AuditEvent.objects.filter(action=Action.IMAGING_INGEST_REFUSE)
    assert sorted(event.details["status"] for event in refusals) == [400, 400, 400, 415]
    assert not landed_files(folder)

    reading_only = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'read')}")
    assert stow(reading_only, folder, [("application/dicom", instance.data)]).status_code == 403
    theirs = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(outsider, 'write')}")
    assert stow(theirs, folder, [("application/dicom", instance.data)]).status_code == 404
    assert stow(Client(), folder, [("application/dicom", instance.data)]).status_code == 401
    assert not FileVersion.objects.exists()


def test_multipart_reader_finds_delimiters_across_any_chunk_boundary() -> None:
    parts = [
        ("application/dicom", bytes(range(256)) * 7),
        ("application/dicom", b""),
        ("x/y", b"\r\n--c \r\n--"),
    ]
    body = multipart_related(parts, "b")
    for chunk_size in (1, 2, 3, 7, 64, 1 << 20):
        stream = io.BytesIO(body)
        reader = MultipartReader(stream.read, b"b", chunk_size=chunk_size)
        got = [(part.content_type, b"".join(part.chunks)) for part in reader.parts()]
        assert got == parts
    with pytest.raises(MultipartError):
        list(MultipartReader(io.BytesIO(body[:-15]).read, b"b", chunk_size=5).parts())


# --- Orthanc as the PACS --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_orthanc_forwards_a_study_by_c_store_and_by_its_dicomweb_client(
    owner: User, receiver: tuple[int, Folder], tmp_path: Path, live_server: Any
) -> None:
    needs("Orthanc")
    if not ORTHANC_DICOMWEB_PLUGIN.exists():
        missing_service("Orthanc's DICOMweb plugin is not installed (orthanc-dicomweb)")
    port, by_c_store = receiver
    by_stow = services.folder_create(actor=owner, parent=root_of(owner), name="By STOW")
    study = ct_study(instances_per_series=(5, 3))
    servers = {
        "securedrive": {
            "Url": f"{live_server.url}/api/v1/imaging/dicomweb/folders/{by_stow.pk}/",
            "HttpHeaders": {"Authorization": f"Bearer {token_of(owner, 'write')}"},
            # Django under WSGI reads only bodies with a Content-Length.
            "ChunkedTransfers": False,
        }
    }
    with orthanc_running(
        tmp_path / "orthanc",
        ae_title="PACS_MAIN",  # on our allow-list
        modalities={"securedrive": ["SECUREDRIVE", "127.0.0.1", port]},
        dicomweb=servers,
    ) as orthanc:
        orthanc_study = ""
        for instance in study.instances:
            orthanc_study = orthanc.post("/instances", data=instance.data)["ParentStudy"]
        forwarded = requests.post(
            f"{orthanc.url}/modalities/securedrive/store",
            json={"Resources": [orthanc_study], "Synchronous": True},
            timeout=300,
        )
        stowed = requests.post(
            f"{orthanc.url}/dicom-web/servers/securedrive/stow",
            json={"Resources": [orthanc_study], "Synchronous": True},
            timeout=300,
        )

    assert forwarded.ok, forwarded.text
    refusals = AuditEvent.objects.filter(action=Action.IMAGING_INGEST_REFUSE)
    assert stowed.ok, [event.details for event in refusals]
    uids = {instance.sop_instance_uid for instance in study.instances}
    sent, posted = landed_files(by_c_store), landed_files(by_stow)
    assert set(sent) == set(posted) == uids
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'read')}")
    for instance in study.instances:
        by_dimse = downloaded(reader, sent[instance.sop_instance_uid])
        assert sha256(dataset_bytes(by_dimse)) == sha256(dataset_bytes(instance.data))
        by_web = downloaded(reader, posted[instance.sop_instance_uid])
        assert sha256(by_web) == sha256(instance.data)
    accepted = AuditEvent.objects.get(action=Action.IMAGING_DICOM_ASSOCIATION_ACCEPT)
    assert accepted.details["calling_ae"] == "PACS_MAIN"


@pytest.mark.django_db(transaction=True)
def test_a_study_meant_for_another_ae_title_or_a_departed_owner_is_refused_at_association(
    owner: User, receiver: tuple[int, Folder], tmp_path: Path
) -> None:
    """A modality configured for another PACS (its called AE title) that reaches our port
    by a wrong address must not have its patients' images land here; nor may a receiver
    keep writing as its owner after she left (the account deactivated) or into a folder
    she may no longer use: the association is refused, said in the audit, and the peer
    keeps the study."""
    needs("storescu")
    port, folder = receiver
    paths = written(ct_study(instances_per_series=(2,)), tmp_path)

    misdirected = storescu(port=port, files=paths, calling_ae="CT_ROOM_2", called_ae="OTHER_PACS")
    assert misdirected.returncode != 0
    assert "rejected" in (misdirected.stderr + misdirected.stdout).lower()
    refused = AuditEvent.objects.get(action=Action.IMAGING_DICOM_ASSOCIATION_REFUSE)
    assert refused.details["called_ae"] == "OTHER_PACS"
    assert "called AE title" in refused.details["reason"]

    User.objects.filter(pk=owner.pk).update(is_active=False)
    departed = storescu(port=port, files=paths, calling_ae="CT_ROOM_2")
    assert departed.returncode != 0
    assert "rejected" in (departed.stderr + departed.stdout).lower()
    refusals = AuditEvent.objects.filter(action=Action.IMAGING_DICOM_ASSOCIATION_REFUSE)
    assert "deactivated" in refusals.order_by("-pk")[0].details["reason"]

    assert not landed_files(folder)
    assert not Folder.objects.filter(parent=folder).exists()  # not even the study's folder
    assert not AuditEvent.objects.filter(action=Action.IMAGING_DICOM_ASSOCIATION_ACCEPT).exists()
