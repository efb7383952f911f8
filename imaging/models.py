"""The DICOM index: studies, series and instances found in stored file versions.

Rows are facts read from the headers of the versions' plaintext (imaging/reading.py),
never a copy of content. A study is indexed per space (the same study uploaded into two
spaces is two rows): whoever may read one file of it sees the facts of that space only.
Access to everything here is decided by the files it points to (imaging/selectors.py).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from files.models import File, FileVersion, Space


class IndexKind(models.TextChoices):
    PART10 = "part10", _("DICOM file")
    DICOMDIR = "dicomdir", _("DICOMDIR (media index)")
    ZIP = "zip", _("archive of DICOM files")
    NOT_DICOM = "not_dicom", _("not DICOM")
    UNREADABLE = "unreadable", _("unreadable DICOM")


class VersionIndex(models.Model):
    """That one version was read, and what it held: running the task twice is a no-op."""

    version = models.OneToOneField(
        FileVersion, primary_key=True, on_delete=models.CASCADE, related_name="dicom_index"
    )
    kind = models.CharField(max_length=12, choices=IndexKind.choices)
    instances = models.PositiveIntegerField(default=0)
    # Members of a ZIP that were not DICOM or could not be read (names, at most a few).
    problem = models.TextField(blank=True, default="")
    indexed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} ({self.instances} instances)"


class Study(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    study_instance_uid = models.CharField(max_length=64)
    patient_name = models.CharField(_("patient name"), max_length=324, blank=True)
    patient_id = models.CharField(_("patient ID"), max_length=64, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    study_date = models.DateField(_("study date"), null=True, blank=True)
    study_description = models.CharField(_("description"), max_length=255, blank=True)
    accession_number = models.CharField(_("accession number"), max_length=64, blank=True)
    # files.names.name_search_key of name, ID and accession number: search ignores
    # accents, case and the "^" separators of person names.
    search_key = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "study_instance_uid"], name="imaging_study_unique_in_space"
            )
        ]
        indexes = [models.Index(fields=["study_date"]), models.Index(fields=["accession_number"])]

    def __str__(self) -> str:
        return self.study_description or self.study_instance_uid

    @property
    def patient_name_words(self) -> str:
        """The patient's name as a person reads it: "DUPONT Marie", not "DUPONT^MARIE"."""
        from imaging.names import person_name_words  # pydicom, loaded on use

        return person_name_words(self.patient_name)

    @property
    def audit_label(self) -> str:
        """The study as the audit log names it for an auditor (imaging/names.py)."""
        from imaging.names import study_label

        return study_label(
            patient_name=self.patient_name,
            patient_id=self.patient_id,
            description=self.study_description,
            date=self.study_date.isoformat() if self.study_date else "",
        )


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    series_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(_("modality"), max_length=16, blank=True, db_index=True)
    series_description = models.CharField(_("description"), max_length=255, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "series_instance_uid"], name="imaging_series_unique_in_study"
            )
        ]

    def __str__(self) -> str:
        return self.series_description or self.series_instance_uid


class Instance(models.Model):
    """One DICOM instance: a whole file version, or one member of a ZIP version."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(FileVersion, on_delete=models.CASCADE, related_name="+")
    # The member's name inside a ZIP; empty for a file that is itself the instance.
    member = models.TextField(blank=True, default="")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    slice_location = models.FloatField(null=True, blank=True)
    # "YES", "NO" or "" (absent): pixels that may show names need a human look.
    burned_in_annotation = models.CharField(max_length=3, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "member"], name="imaging_instance_once")
        ]
        indexes = [models.Index(fields=["series", "instance_number"])]

    def __str__(self) -> str:
        return self.sop_instance_uid


class JobStatus(models.TextChoices):
    PENDING = "pending", _("waiting")
    RUNNING = "running", _("in progress")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class DeidentifyJob(models.Model):
    """One request to share a study de-identified: the work runs in a worker (a study of
    thousands of images takes minutes), the sender's page follows it."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    series_ids = models.JSONField(default=list)
    retain_dates = models.BooleanField(default=False)
    # "transfer" or "link": what the sender gets once the copy is made.
    send_as = models.CharField(max_length=12)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    done_instances = models.PositiveIntegerField(default=0)
    total_instances = models.PositiveIntegerField(default=0)
    pseudonym = models.CharField(max_length=32, blank=True)
    folder = models.ForeignKey(
        "files.Folder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    transfer = models.ForeignKey(
        "sharing.Transfer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the sender is told: counts, series included despite burned-in text, skipped.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"de-identification of study {self.study_id} ({self.status})"
