"""Reads of the DICOM index, always scoped to who asks.

An instance is visible to a person exactly when its file is: the current version of a
live file that ``files.selectors.files_readable_by`` lets them read. A study is visible
when at least one of its instances is, and shows only those: a study spread over a
shared folder and a private one shows the outsider the shared part only. Anything else
is a ``StudyNotFoundForActor``, a 404 that confirms nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.errors import NotFoundForActor
from files.models import FileVersion, ScanStatus
from files.names import name_search_key
from files.selectors import (
    Permission,
    content_withheld_refuse,
    files_readable_by,
    files_withheld_by_role,
)
from imaging.models import DeidentifyJob, Instance, Series, Study, VersionIndex

STUDY_RESULTS_LIMIT = 50
# Secondary Capture Image Storage and its multi-frame variants (PS3.4 B.5).
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
STUDY_QUERY_MAX = 200
# Between the words of a search: spaces, commas, and the "^" of DICOM person names.
QUERY_SEPARATORS = re.compile(r"[\s,^]+")


class StudyNotFoundForActor(NotFoundForActor):
    pass


def _live_instances() -> QuerySet[Instance]:
    """Instances of the current version of a live, unshredded file."""
    return Instance.objects.filter(
        file__current_version=F("version"),
        file__deleted_at__isnull=True,
        file__purged_at__isnull=True,
        version__shredded_at__isnull=True,
        version__integrity_failed=False,
    )


def instances_readable_by(actor: User) -> QuerySet[Instance]:
    return _live_instances().filter(file__in=files_readable_by(actor))


@dataclass
class StudyRow:
    study: Study
    modalities: list[str]
    instances: int


@dataclass
class SeriesView:
    series: Series
    instances: list[Instance]

    @property
    def burned_in(self) -> bool:
        """Flagged BurnedInAnnotation=YES, or a secondary capture (a screenshot, a scanned
        page: whatever the modality says, its pixels are often text)."""
        return any(
            item.burned_in_annotation == "YES"
            or item.sop_class_uid == SECONDARY_CAPTURE
            or item.sop_class_uid.startswith(SECONDARY_CAPTURE + ".")
            for item in self.instances
        )


@dataclass
class StudyView:
    study: Study
    series: list[SeriesView] = field(default_factory=list)

    @property
    def instance_count(self) -> int:
        return sum(len(item.instances) for item in self.series)

    @property
    def modalities(self) -> list[str]:
        return sorted({item.series.modality for item in self.series if item.series.modality})

    @property
    def burned_in_series(self) -> list[SeriesView]:
        """Series whose pixels may show identifiers: flagged BurnedInAnnotation=YES, or
        of a kind that usually has text in the image (ultrasound, screen captures)."""
        likely = {"US", "SC", "OT", "XC", "DOC", "ES"}
        return [item for item in self.series if item.burned_in or item.series.modality in likely]


def study_rows_for(
    *,
    actor: User,
    query: str = "",
    modality: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> tuple[list[StudyRow], bool]:
    """Studies ``actor`` may read matching patient name or ID or accession number
    (``query``: each word, in any order; accents, case and "^" ignored), modality and
    study date; newest first. Returns (rows, more than the limit)."""
    readable = instances_readable_by(actor)
    if modality:
        readable = readable.filter(series__modality=modality.upper())
    studies = Study.objects.filter(pk__in=readable.values("series__study"))
    # Word by word, in any order: "DUPONT Marie", "Marie Dupont" and "DUPONT^MARIE"
    # all find DUPONT^MARIE^CLAIRE (the list shows "DUPONT Marie Claire").
    for word in QUERY_SEPARATORS.split(query):
        if key := name_search_key(word):
            studies = studies.filter(search_key__contains=key)
    if date_from is not None:
        studies = studies.filter(study_date__gte=date_from)
    if date_to is not None:
        studies = studies.filter(study_date__lte=date_to)
    found = list(
        studies.order_by(F("study_date").desc(nulls_last=True), "-pk")[: STUDY_RESULTS_LIMIT + 1]
    )
    more = len(found) > STUDY_RESULTS_LIMIT
    found = found[:STUDY_RESULTS_LIMIT]
    counts = (
        instances_readable_by(actor)
        .filter(series__study__in=found)
        .values("series__study", "series__modality")
        .annotate(count=Count("pk"))
    )
    modalities: dict[int, set[str]] = {}
    totals: dict[int, int] = {}
    for row in counts:
        study_id = int(row["series__study"])
        if row["series__modality"]:
            modalities.setdefault(study_id, set()).add(str(row["series__modality"]))
        totals[study_id] = totals.get(study_id, 0) + int(row["count"])
    rows = [
        StudyRow(study, sorted(modalities.get(study.pk, set())), totals.get(study.pk, 0))
        for study in found
    ]
    return rows, more


def study_view_for(*, actor: User, study_id: int) -> StudyView:
    """The study with the series and instances ``actor`` may read, or a 404."""
    study = Study.objects.filter(pk=study_id).first()
    instances = (
        list(
            instances_readable_by(actor)
            .filter(series__study=study)
            .select_related("series", "file", "version")
            .order_by(
                F("series__series_number").asc(nulls_last=True),
                "series_id",
                F("instance_number").asc(nulls_last=True),
                "slice_location",
                "pk",
            )
        )
        if study is not None
        else []
    )
    if not instances and study is not None:
        _withheld_check(actor=actor, study=study, instances=Q(series__study=study))
    if not instances:
        _refused(actor=actor, target_type="imaging.study", target_id=study_id)
    assert study is not None  # noqa: S101
    view = StudyView(study)
    by_series: dict[int, SeriesView] = {}
    seen: set[tuple[int, str]] = set()
    for instance in instances:
        # The same instance stored twice (a ZIP and its loose files): shown once.
        if (instance.series_id, instance.sop_instance_uid) in seen:
            continue
        seen.add((instance.series_id, instance.sop_instance_uid))
        series_view = by_series.get(instance.series_id)
        if series_view is None:
            series_view = by_series[instance.series_id] = SeriesView(instance.series, [])
            view.series.append(series_view)
        series_view.instances.append(instance)
    return view


def instance_get_for_actor(*, actor: User, instance_id: int) -> Instance:
    instance = (
        instances_readable_by(actor)
        .select_related("series__study", "file", "version", "version__file")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None:
        withheld = (
            _live_instances()
            .filter(pk=instance_id, file__in=files_withheld_by_role(actor))
            .select_related("series__study")
            .first()
        )
        if withheld is not None:
            _withheld_check(
                actor=actor,
                study=withheld.series.study,
                instances=Q(pk=instance_id),
                target=("imaging.instance", instance_id),
            )
        _refused(actor=actor, target_type="imaging.instance", target_id=instance_id)
    assert instance is not None  # noqa: S101
    return instance


def _withheld_check(
    *, actor: User, study: Study, instances: Q, target: tuple[str, object] | None = None
) -> None:
    """An auditor whose team or share would show this study is told why not (403),
    and the log names the patient and study asked for (files.selectors)."""
    if not _live_instances().filter(instances, file__in=files_withheld_by_role(actor)).exists():
        return
    target_type, target_id = target or ("imaging.study", study.pk)
    content_withheld_refuse(
        actor=actor,
        action=Action.IMAGING_STUDY_VIEW
        if target_type == "imaging.study"
        else Action.IMAGING_INSTANCE_VIEW,
        target_type=target_type,
        target_id=target_id,
        need=Permission.VIEW,
        study_name=study.audit_label,
    )


def _refused(*, actor: User, target_type: str, target_id: object) -> None:
    """Audited like files' refusals: someone asked for what they may not read."""
    audit.record(
        action=Action.IMAGING_STUDY_VIEW
        if target_type == "imaging.study"
        else Action.IMAGING_INSTANCE_VIEW,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        details={"reason": "not_found_or_not_readable"},
    )
    raise StudyNotFoundForActor(target_type, target_id)


def versions_unindexed(*, limit: int = 0) -> list[uuid.UUID]:
    """Ids of the current versions of live files that are readable, look like DICOM or
    a ZIP (imaging.receivers.worth_indexing, in SQL) and have no index row: what the
    ``index_dicom`` command catches up. Oldest first; ``limit`` 0 is no limit."""
    looks_dicom = (
        Q(content_type__in=["application/dicom", "application/zip", "application/x-zip-compressed"])
        | Q(file__name__iendswith=".dcm")
        | Q(file__name__iendswith=".dicom")
        | Q(file__name__iendswith=".zip")
        | Q(file__name__iexact="dicomdir")
    )
    versions = (
        FileVersion.objects.filter(
            looks_dicom,
            file__current_version=F("pk"),
            file__deleted_at__isnull=True,
            file__purged_at__isnull=True,
            scan_status__in=(ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED),
            integrity_failed=False,
            shredded_at__isnull=True,
        )
        # Its own key, or the content holder's for a copy (files/blobs.py).
        .filter(
            Q(wrapped_data_key__isnull=False) | Q(content_holder__wrapped_data_key__isnull=False)
        )
        .exclude(pk__in=VersionIndex.objects.values("version_id"))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(versions[:limit] if limit else versions)


def deidentify_job_get_for_actor(*, actor: User, job_id: int) -> DeidentifyJob:
    """The sender's own de-identification job; anyone else's is a 404 (audited)."""
    job = (
        DeidentifyJob.objects.select_related("study").filter(pk=job_id, requested_by=actor).first()
    )
    if job is None:
        _refused(actor=actor, target_type="imaging.study", target_id=f"job:{job_id}")
    assert job is not None  # noqa: S101
    return job
