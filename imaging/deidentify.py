"""De-identified copies of a study, for sending outside (docs/imaging.md).

``study_deidentify`` reads each chosen instance from its decrypting stream, applies the
Annex E profile (imaging/profile.py) in memory, and stores the result as a new file of
the sender's through the files services: encrypted under its own data key, scanned by
the normal pipeline (it is new plaintext: no verdict is inherited), and linked to the
version it was made from by ``FileVersion.derived_from``, so every access event of the
copy names the original (files/lineage.py) and the auditor's history of the original
lists them. The copies land in "De-identified copies/<pseudonym> <date>" in the sender's
personal space; a transfer or a link then references those files only: the recipient
never receives the identified original.

Series whose pixels may carry names (flagged BurnedInAnnotation=YES, or ultrasound,
screen captures and other kinds that usually show text) are left out unless the sender
ticks them, and the audit event says which were included anyway. The profile does not
clean pixels.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from core.errors import RuleError
from files import services as files_services
from files.crypto import BlobIntegrityError
from files.errors import NameClashError
from files.models import File, Folder
from files.names import name_key
from files.selectors import SharingWay, sharing_refusal
from files.storage import BlobMissingError
from files.uploads import BlobIngest
from imaging import selectors
from imaging.models import DeidentifyJob, Instance, JobStatus
from imaging.reading import ZipMembers, dataset_read_whole, deflated_as_explicit, parse_errors

if TYPE_CHECKING:
    from imaging.profile import Deidentifier

logger = logging.getLogger(__name__)

# One instance is de-identified in memory (read, changed, written: about three times its
# size): a CT or MR slice is well under a megabyte; a long ultrasound clip can be
# hundreds. Bigger instances are left out and named, never half-done.
INSTANCE_MAX_BYTES = 256 * 1024 * 1024
COPIES_FOLDER_NAME = pgettext_lazy("folder name", "De-identified copies")
# Audit details name at most this many original versions (a ZIP is one).
ORIGINALS_LISTED = 200


class DeidentifyRuleError(RuleError):
    pass


@dataclass
class DeidentifiedCopy:
    """What the sender is told, and what a transfer or link then references."""

    pseudonym: str
    folder: Folder
    files: list[File] = field(default_factory=list)
    retain_dates: bool = False
    # Series included although their pixels may show identifiers (the sender chose).
    burned_in_included: list[str] = field(default_factory=list)
    # Series left out because they may show identifiers (the default).
    burned_in_excluded: list[str] = field(default_factory=list)
    # Instances that could not be de-identified (unreadable, too big): left out.
    skipped: list[str] = field(default_factory=list)


def _series_label(view: selectors.SeriesView) -> str:
    series = view.series
    label = series.series_description or series.series_instance_uid
    return f"{label} ({series.modality})" if series.modality else label


def _copies_folder(actor: User, pseudonym: str) -> Folder:
    """ "De-identified copies/<pseudonym> <date>" in the sender's personal space."""
    root = files_services.space_root(files_services.space_personal_get_or_create(user=actor))
    with translation.override(actor.email_language):
        name = str(COPIES_FOLDER_NAME)
    parent = Folder.objects.filter(
        parent=root, name_key=name_key(name), deleted_at__isnull=True
    ).first()
    if parent is None:
        try:
            parent = files_services.folder_create(actor=actor, parent=root, name=name)
        except NameClashError:
            parent = root  # a *file* has that name: the copies go to the top folder
    day = timezone.localdate().isoformat()
    return files_services.folder_create(actor=actor, parent=parent, name=f"{pseudonym} {day}")


def _file_name(instance: Instance, taken: set[str]) -> str:
    series = instance.series.series_number
    number = instance.instance_number
    base = f"S{series if series is not None else 0}_IM{number if number is not None else 0:04d}"
    name, counter = f"{base}.dcm", 1
    while name in taken:
        counter += 1
        name = f"{base}_{counter}.dcm"
    taken.add(name)
    return name


def _deidentified_bytes(
    instance: Instance, deidentifier: Deidentifier, members: ZipMembers
) -> bytes | None:
    """The instance read whole into memory, de-identified, written back; None when it
    cannot be (unparseable, too big)."""
    plaintext = io.BytesIO()
    # closing(): stopping early must release the member now, not at GC.
    with closing(members.chunks(instance.version, instance.member)) as chunks:
        for chunk in chunks:
            plaintext.write(chunk)
            if plaintext.tell() > INSTANCE_MAX_BYTES:
                return None
    plaintext.seek(0)
    from pydicom.uid import DeflatedExplicitVRLittleEndian  # not at load time (reading.py)

    failures: tuple[type[Exception], ...] = (*parse_errors(), AttributeError, NotImplementedError)
    try:
        # pydicom would inflate a deflated data set whole, however large: bounded here.
        deflated = deflated_as_explicit(plaintext, limit=INSTANCE_MAX_BYTES)
        if deflated is None:
            dataset = dataset_read_whole(plaintext)
        elif not deflated[1]:
            return None
        else:
            dataset = dataset_read_whole(deflated[0])
            dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        deidentifier.apply(dataset)
        written = io.BytesIO()
        dataset.save_as(written, enforce_file_format=True)
    except failures as error:
        logger.info("instance %s not de-identified: %s", instance.pk, type(error).__name__)
        return None
    return written.getvalue()


def outside_sending_allowed(*, actor: User, series: list[selectors.SeriesView]) -> bool:
    """Whether ``actor`` may send these series outside (``_send_outside_check``)."""
    by_space = {
        instance.file.space_id: instance.file for item in series for instance in item.instances
    }
    return all(
        sharing_refusal(actor=actor, item=file, way=SharingWay.TRANSFER) is None
        for file in by_space.values()
    )


def _send_outside_check(*, actor: User, study_id: int, chosen: list[selectors.SeriesView]) -> None:
    """A de-identified copy is the sender's, made to go outside: only for those who may
    send the study's files outside themselves (the people of their space,
    files.selectors.sharing_refusal), not for someone they were shared with, even as
    editor, nor a viewer. De-identification may miss a name burned into the pixels or in
    a private tag: the copy must not launder the owner's decision. Checked per space
    (the rule depends on the space alone), when the job is asked for and again when the
    worker makes the copy (access may have gone meanwhile)."""
    if outside_sending_allowed(actor=actor, series=chosen):
        return
    deidentify_refused_record(actor=actor, study_id=study_id, reason="not_space_member")
    raise DeidentifyRuleError(
        _(
            "This study was shared with you: only the people of the space it belongs to may "
            "send it outside the organisation, even de-identified. Ask its owner to send it."
        ),
        403,
    )


def study_deidentify(
    *,
    actor: User,
    study_id: int,
    series_ids: list[int],
    retain_dates: bool = False,
    request: RequestContext | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DeidentifiedCopy:
    """A de-identified copy of the chosen series of a study ``actor`` may read.

    Series that may carry burned-in text are only copied when their id is in
    ``series_ids`` too (the form leaves them unticked). Raises ``StudyNotFoundForActor``
    (404, audited) or ``DeidentifyRuleError``."""
    view = selectors.study_view_for(actor=actor, study_id=study_id)
    chosen = [item for item in view.series if item.series.pk in set(series_ids)]
    if not chosen:
        raise DeidentifyRuleError(_("Choose at least one series to send."))
    _send_outside_check(actor=actor, study_id=view.study.pk, chosen=chosen)
    risky = {item.series.pk for item in view.burned_in_series}
    from imaging.profile import Deidentifier  # pydicom and its tables, loaded on use

    deidentifier = Deidentifier(retain_dates=retain_dates)
    ingests: list[tuple[BlobIngest, Instance, str]] = []
    skipped: list[str] = []
    taken: set[str] = set()
    total = sum(len(item.instances) for item in chosen)
    done = 0
    members = ZipMembers()
    try:
        for series_view in chosen:
            for instance in series_view.instances:
                done += 1
                if progress is not None:
                    progress(done, total)
                label = f"{instance.file.name} {instance.member}".strip()
                if not instance.version.is_downloadable:
                    skipped.append(label)
                    continue
                try:
                    data = _deidentified_bytes(instance, deidentifier, members)
                except (BlobIntegrityError, BlobMissingError) as error:
                    files_services.version_integrity_failure_record(
                        version=instance.version, actor=actor, error=error, during="deidentify"
                    )
                    data = None
                if data is None:
                    skipped.append(label)
                    continue
                ingest = BlobIngest(max_bytes=len(data) + 1)
                ingests.append((ingest, instance, _file_name(instance, taken)))
                for start in range(0, len(data), 1 << 20):
                    ingest.write(data[start : start + (1 << 20)])
        members.close()
        if not ingests:
            raise DeidentifyRuleError(_("None of the chosen images could be de-identified."))
        sealed = [(ingest.finish(), instance, name) for ingest, instance, name in ingests]
        with transaction.atomic():
            folder = _copies_folder(actor, deidentifier.pseudonym)
            copy = DeidentifiedCopy(
                pseudonym=deidentifier.pseudonym,
                folder=folder,
                retain_dates=retain_dates,
                burned_in_included=[
                    _series_label(item) for item in chosen if item.series.pk in risky
                ],
                burned_in_excluded=[
                    _series_label(item)
                    for item in view.series
                    if item.series.pk in risky and item not in chosen
                ],
                skipped=skipped,
            )
            versions = files_services.files_upload(
                actor=actor,
                folder=folder,
                uploads=[(name, blob) for blob, _instance, name in sealed],
                derived_from=[instance.version for _blob, instance, _name in sealed],
            )
            copy.files.extend(version.file for version in versions)
            originals = sorted({str(instance.version_id) for _blob, instance, _name in sealed})
            audit.record(
                action=Action.IMAGING_STUDY_DEIDENTIFY,
                actor=actor,
                target_type="imaging.study",
                target_id=view.study.pk,
                request=request,
                details={
                    "name": view.study.audit_label,
                    "space": view.study.space_id,
                    "pseudonym": deidentifier.pseudonym,
                    "folder": folder.pk,
                    "series": [item.series.series_instance_uid for item in chosen],
                    "instances": len(sealed),
                    "files": [file.pk for file in copy.files][:ORIGINALS_LISTED],
                    "originals": originals[:ORIGINALS_LISTED],
                    "options": {
                        "profile": "PS3.15 Annex E basic",
                        "dates": "kept" if retain_dates else "shifted",
                        "private_tags": "removed",
                    },
                    "warnings": {
                        "burned_in_included": [
                            item.series.series_instance_uid
                            for item in chosen
                            if item.series.pk in risky
                        ],
                        "burned_in_excluded": len(copy.burned_in_excluded),
                        "skipped": len(skipped),
                    },
                },
            )
    except BaseException:
        members.close()
        for ingest, _instance, _name in ingests:
            ingest.discard()
        raise
    return copy


# --- In a worker ---------------------------------------------------------------------------

# A job left "running" longer than this lost its worker (killed, redeployed): the task's
# redelivery may take it again. Measured: about 70 ms per 512x512 slice, so an hour is
# 50,000 slices.
JOB_LEASE = dt.timedelta(hours=1)
PROGRESS_EVERY = 25
SEND_TRANSFER = "transfer"


def deidentify_refused_record(*, actor: User, study_id: int, reason: str) -> None:
    """A de-identified copy to send outside, refused before anything is made (the sharing
    policy): audited where the 403 is decided."""
    audit.record(
        action=Action.IMAGING_STUDY_DEIDENTIFY,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="imaging.study",
        target_id=study_id,
        details={"reason": reason},
    )


def deidentify_job_create(
    *, actor: User, study_id: int, series_ids: list[int], retain_dates: bool, send_as: str
) -> DeidentifyJob:
    """Record the request and hand it to a worker after the commit (ids only). The
    study is checked now too, so the page answers 404 at once to someone who may not."""
    from imaging import tasks

    view = selectors.study_view_for(actor=actor, study_id=study_id)
    chosen = [item for item in view.series if item.series.pk in set(series_ids)]
    if not chosen:
        raise DeidentifyRuleError(_("Choose at least one series to send."))
    _send_outside_check(actor=actor, study_id=view.study.pk, chosen=chosen)
    job = DeidentifyJob.objects.create(
        study=view.study,
        requested_by=actor,
        series_ids=[item.series.pk for item in chosen],
        retain_dates=retain_dates,
        send_as=send_as,
        total_instances=sum(len(item.instances) for item in chosen),
    )
    job_id = job.pk
    transaction.on_commit(lambda: tasks.deidentify_job_run.delay(job_id), robust=True)
    return job


def _job_claim(job_id: int) -> DeidentifyJob | None:
    now = timezone.now()
    claimed = (
        DeidentifyJob.objects.filter(pk=job_id)
        .filter(
            models.Q(status=JobStatus.PENDING)
            | models.Q(status=JobStatus.RUNNING, started_at__lt=now - JOB_LEASE)
        )
        .update(status=JobStatus.RUNNING, started_at=now)
    )
    if not claimed:
        return None
    return DeidentifyJob.objects.select_related("requested_by").get(pk=job_id)


def deidentify_job_run(*, job_id: int) -> str | None:
    """The worker's side: make the copy, then the draft transfer when asked. Returns the
    final status, or None when another run has it (or it is finished)."""
    job = _job_claim(job_id)
    if job is None:
        return None
    # Names and messages in the sender's language (the folder, the transfer's subject).
    with translation.override(job.requested_by.email_language):
        return _job_run(job)


def _job_run(job: DeidentifyJob) -> str:
    from sharing.errors import TransferRuleError
    from sharing.services import policy as sharing_policy
    from sharing.services import transfers

    job_id = job.pk
    actor = job.requested_by

    def progress(done: int, total: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            DeidentifyJob.objects.filter(pk=job_id).update(
                done_instances=done, total_instances=total
            )

    try:
        copy = study_deidentify(
            actor=actor,
            study_id=job.study_id,
            series_ids=list(job.series_ids),
            retain_dates=job.retain_dates,
            progress=progress,
        )
    except (DeidentifyRuleError, selectors.StudyNotFoundForActor) as error:
        message = (
            str(error)
            if isinstance(error, DeidentifyRuleError)
            else _("This study is no longer readable by you.")
        )
        DeidentifyJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error=message
        )
        return JobStatus.FAILED
    except Exception:
        logger.exception("de-identification job %s failed", job_id)
        DeidentifyJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=_("The de-identified copy could not be made. Try again later."),
        )
        return JobStatus.FAILED
    job.pseudonym, job.folder = copy.pseudonym, copy.folder
    job.result = {
        "files": len(copy.files),
        "burned_in_included": copy.burned_in_included,
        "skipped": len(copy.skipped),
    }
    if job.send_as == SEND_TRANSFER:
        try:
            with transaction.atomic():
                transfer = transfers.transfer_create(
                    actor=actor,
                    subject=_("De-identified study %(pseudonym)s") % {"pseudonym": copy.pseudonym},
                    expires_at=timezone.now()
                    + dt.timedelta(days=sharing_policy.expiry_default_days()),
                )
                transfers.transfer_files_add(actor=actor, transfer=transfer, files=copy.files)
            job.transfer = transfer
        except TransferRuleError as error:
            job.error = str(error)
    job.status, job.finished_at = JobStatus.DONE, timezone.now()
    job.save(
        update_fields=[
            "pseudonym",
            "folder",
            "transfer",
            "result",
            "error",
            "status",
            "finished_at",
        ]
    )
    return JobStatus.DONE
