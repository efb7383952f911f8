"""The DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, applied to
one dataset (docs/imaging.md, "De-identified sharing").

The action of each attribute comes from the table shipped by the ``dicom-anonymizer``
package (``dicomfields_2026c``: Table E.1-1 of the 2026c standard, D/Z/X/U and the
composite actions), read once. Its own engine is not used: it keeps one module-level
UID mapping for the whole process, so two studies de-identified by the same worker
would share replacement UIDs, and a restart would change them mid-study. Here one
``Deidentifier`` is one de-identification: UIDs are replaced through an HMAC under a
random key it alone holds (the same input UID gives the same new UID across the study's
files, references included; a new de-identification gives unrelated UIDs, and nothing
stored can map them back), and dates move by one offset for the whole study.

Options of the profile implemented:
- Retain Longitudinal Temporal Information, with Modified Dates (dates and date-times
  shifted by the study's offset, times kept) or Full Dates (kept as they are). The
  patient's own dates (group 0010, birth date) always follow the basic profile.
Not implemented (so not claimed in the dataset): Clean Pixel Data, Clean Descriptors,
Retain Safe Private, Retain Patient Characteristics, Retain Device Identity. Every
private attribute is removed, and the patient's name and ID become the pseudonym.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

TABLE_VERSION = "dicomfields_2026c"
# Written into each de-identified dataset (0012,0063), and named in docs/imaging.md.
METHOD = "DICOM PS3.15 Annex E Basic Profile (SecureDrive)"
PATIENT_GROUP = 0x0010
# Overlay planes: groups 6000 to 601E (PS3.3 C.9.2), masked with 0xFF00.
OVERLAY_GROUPS = 0x6000
PREAMBLE_BYTES = 128
# What may follow a date's YYYYMMDD in a DT (PS3.5 6.2): HHMMSS.FFFFFF&ZZXX, and what
# a TM holds. Anything else in a date or time is text, not a time: dropped.
DATETIME_REST = re.compile(r"[0-9]{0,6}(\.[0-9]{1,6})?([+-][0-9]{4})?")
TIME_SHAPE = re.compile(r"[0-9]{2,6}(\.[0-9]{1,6})?")
# The days a study's dates move back: at least a year, so a date never looks real.
SHIFT_MIN_DAYS, SHIFT_MAX_DAYS = 365, 3650
# Alphabet of pseudonyms: no 0/O or 1/I to misread over the phone.
PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Act(StrEnum):
    """Table E.1-1 action codes."""

    D = "D"  # replace with a dummy value
    Z = "Z"  # zero length
    X = "X"  # remove
    U = "U"  # replace the UID, consistently
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"


# dicom-anonymizer's categories, in its own order (a later one wins, as in its engine).
CATEGORIES = {
    "D_TAGS": Act.D,
    "Z_TAGS": Act.Z,
    "X_TAGS": Act.X,
    "U_TAGS": Act.U,
    "Z_D_TAGS": Act.Z_D,
    "X_Z_TAGS": Act.X_Z,
    "X_D_TAGS": Act.X_D,
    "X_Z_D_TAGS": Act.X_Z_D,
    "X_Z_U_STAR_TAGS": Act.X_Z_U,
}

# What the composite actions become: the safe choice that keeps a valid file. Z where
# the attribute may be empty, D (a dummy) where it could be Type 1; never the value.
RESOLVED = {
    Act.Z_D: Act.D,
    Act.X_Z: Act.Z,
    Act.X_D: Act.D,
    Act.X_Z_D: Act.D,
}

PATIENT_NAME, PATIENT_ID = Tag(0x0010, 0x0010), Tag(0x0010, 0x0020)

# (0008,9123) Creator-Version UID and the like are not in the table; the DICOM file
# meta information is handled apart (its media SOP instance UID follows the dataset's).
META_DROPPED = (
    Tag(0x0002, 0x0016),  # Source Application Entity Title
    Tag(0x0002, 0x0017),  # Sending Application Entity Title
    Tag(0x0002, 0x0018),  # Receiving Application Entity Title
    Tag(0x0002, 0x0100),  # Private Information Creator UID
    Tag(0x0002, 0x0102),  # Private Information
)


@dataclass(frozen=True)
class ActionTable:
    exact: dict[BaseTag, Act]
    # (group, element, group mask, element mask, action): repeating groups (50xx, 60xx).
    masked: tuple[tuple[int, int, int, int, Act], ...]

    def action(self, tag: BaseTag) -> Act | None:
        found = self.exact.get(tag)
        if found is not None:
            return found
        for group, element, group_mask, element_mask, act in self.masked:
            if tag.group & group_mask == group and tag.element & element_mask == element:
                return act
        return None


@cache
def action_table() -> ActionTable:
    """Table E.1-1 as dicom-anonymizer ships it."""
    tags = dicom_anonymization_database_selector(TABLE_VERSION)
    exact: dict[BaseTag, Act] = {}
    masked: list[tuple[int, int, int, int, Act]] = []
    for category, act in CATEGORIES.items():
        for entry in tags[category]:
            if len(entry) == 2:
                exact[Tag(entry[0], entry[1])] = act
            else:
                masked.append((entry[0], entry[1], entry[2], entry[3], act))
    return ActionTable(exact=exact, masked=tuple(masked))


def _standard_vr(tag: BaseTag) -> str | None:
    """The VR the data dictionary gives a standard attribute; None for private, unknown
    or ambiguous ones ("US or SS"), whose file VR stands."""
    from pydicom.datadict import dictionary_VR

    if tag.is_private:
        return None
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return None if " or " in vr else vr


def _in_dictionary(tag: BaseTag) -> bool:
    from pydicom.datadict import get_entry

    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


# UIDs of kinds of things, not of a patient's instances: kept.
KIND_UID_KEYWORDS = frozenset(
    {"CodingSchemeUID", "ContextUID", "MappingResourceUID", "ContextGroupExtensionCreatorUID"}
)
# The standard's own UIDs (classes, syntaxes, well-known frames): never a patient's.
STANDARD_UID_ROOT = "1.2.840.10008."


def _names_a_kind(tag: BaseTag) -> bool:
    from pydicom.datadict import keyword_for_tag

    keyword = keyword_for_tag(tag)
    return keyword.endswith(("ClassUID", "SyntaxUID")) or keyword in KIND_UID_KEYWORDS


def beyond_table(tag: BaseTag, vr: str) -> Act | None:
    """What becomes of a public attribute Table E.1-1 (as dicom-anonymizer ships it) has
    no row for. The table keeps them; a DPO does not expect to find a person's name or a
    comment there, and the shipped table misses some the standard lists (the patient's
    birth and death dates in another calendar, Text Value, Comments on the Scheduled
    Procedure Step). So, beyond the table (docs/imaging.md):
    - an attribute no data dictionary knows (an even group a vendor used as private):
      removed, since nobody can say what it holds;
    - a person's name (PN) or free text (LT, ST, UT, UC): emptied (kept, for validity);
    - text about the patient (group 0010) or an overlay (60xx: its description and
      label): emptied;
    - a UID naming an instance, an event or a frame of reference: replaced like the
      table's (the same original, the same new UID), not one naming a kind of thing (a
      SOP class, a transfer syntax, a coding scheme).
    Codes, numbers and descriptions of the acquisition (LO, SH, CS elsewhere) stay."""
    if not _in_dictionary(tag):
        return Act.X
    if vr == "UI" and not _names_a_kind(tag):
        # An instance or frame of reference the table misses (SOP Instance UID of
        # Concatenation Source, Multi-frame Source SOP Instance UID): the original's UID
        # would link the copy back to the study in the hospital's PACS.
        return Act.U
    if vr in ("PN", "LT", "ST", "UT", "UC"):
        return Act.Z
    if vr in ("LO", "SH", "CS", "UR", "AE") and (
        tag.group == PATIENT_GROUP or tag.group & 0xFF00 == OVERLAY_GROUPS
    ):
        return Act.Z
    return None


def pseudonym_new() -> str:
    return "ANON-" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(8))


@dataclass
class Deidentifier:
    """One de-identification (one study, one sending): its pseudonym, UID key and date
    offset are random, held in memory only, and forgotten afterwards."""

    retain_dates: bool = False
    pseudonym: str = field(default_factory=pseudonym_new)
    shift_days: int = field(
        default_factory=lambda: SHIFT_MIN_DAYS + secrets.randbelow(SHIFT_MAX_DAYS - SHIFT_MIN_DAYS)
    )
    _uid_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    # --- Replacements ---------------------------------------------------------------

    def uid(self, value: str) -> str:
        """The new UID of ``value``: "2.25." and 128 bits of HMAC (PS3.5 B.2, a UUID-
        derived UID), the same for the same input within this de-identification."""
        text = str(value).strip().rstrip("\x00")
        if not text or text.startswith(STANDARD_UID_ROOT):
            return text
        digest = hmac.new(self._uid_key, text.encode(), hashlib.sha256).digest()[:16]
        return "2.25." + str(int.from_bytes(digest, "big"))

    def _date(self, value: str) -> str:
        """The date moved back (kept with Full Dates); only a date and time remain."""
        text = value.strip()
        try:
            day = dt.datetime.strptime(text[:8], "%Y%m%d").date()  # noqa: DTZ007 (a date)
        except ValueError:
            return ""
        rest = text[8:] if DATETIME_REST.fullmatch(text[8:]) else ""
        shift = 0 if self.retain_dates else self.shift_days
        return (day - dt.timedelta(days=shift)).strftime("%Y%m%d") + rest

    def _dates(self, element: DataElement) -> None:
        values = element.value if element.VM > 1 else [element.value]
        moved = [self._date(str(item)) for item in values if item not in (None, "")]
        element.value = moved if len(moved) > 1 else (moved[0] if moved else "")

    def _times(self, element: DataElement) -> None:
        """Times are kept (whole days move), provided they are times."""
        values = element.value if element.VM > 1 else [element.value]
        kept = [str(item).strip() for item in values if item not in (None, "")]
        kept = [item if TIME_SHAPE.fullmatch(item) else "" for item in kept]
        element.value = kept if len(kept) > 1 else (kept[0] if kept else "")

    def _dummy(self, dataset: Dataset, element: DataElement) -> None:
        """D: a value of the right VR that says nothing."""
        vr = element.VR
        if vr == "UI":
            self._uids(element)
        elif vr == "SQ":
            element.value = Sequence()
        elif vr in ("DA",):
            element.value = "19000101"
        elif vr == "DT":
            element.value = "19000101000000"
        elif vr == "TM":
            element.value = "000000"
        elif vr == "AS":
            element.value = "000Y"
        elif vr in ("DS", "IS"):
            element.value = "0"
        elif vr in ("FD", "FL", "SS", "US", "SL", "UL", "SV", "UV"):
            element.value = 0
        elif vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
            element.value = b""
        elif vr == "UR":
            element.value = "http://anonymized.invalid"
        else:  # AE, CS, LO, LT, PN, SH, ST, UC, UT
            element.value = "ANONYMIZED"

    def _uids(self, element: DataElement) -> None:
        if element.VM > 1:
            element.value = [self.uid(str(item)) for item in element.value]
        elif element.value:
            element.value = self.uid(str(element.value))

    # --- The walk ---------------------------------------------------------------------

    def _dataset(self, dataset: Dataset, table: ActionTable) -> None:
        for tag in list(dataset.keys()):
            element = dataset[tag]
            self._element(dataset, tag, element, table)

    def _element(
        self, dataset: Dataset, tag: BaseTag, element: DataElement, table: ActionTable
    ) -> None:
        # The standard's VR of the attribute, not the one the file claims: an institution
        # name sent as a "time" is still an institution name (the table decides).
        vr = _standard_vr(tag) or element.VR
        if vr in ("DA", "DT") and tag.group != PATIENT_GROUP:
            # Retain Longitudinal Temporal Information: the option decides, not the table.
            self._dates(element)
            return
        if vr == "TM" and tag.group != PATIENT_GROUP:
            self._times(element)  # with whole days moved, times keep their meaning
            return
        act = table.action(tag)
        act = RESOLVED.get(act, act) if act is not None else None
        if act is None:
            act = beyond_table(tag, vr)
        if act is None:
            if element.VR == "SQ":
                for item in element.value:
                    self._dataset(item, table)
            return
        if act == Act.X:
            del dataset[tag]
        elif act == Act.Z:
            element.value = Sequence() if element.VR == "SQ" else None
        elif act == Act.D:
            self._dummy(dataset, element)
        elif act == Act.U:
            self._uids(element)
        elif act == Act.X_Z_U:
            # A sequence of references: kept, the UIDs inside replaced by their rows.
            if element.VR == "SQ":
                for item in element.value:
                    self._dataset(item, table)
            elif element.VR == "UI":
                self._uids(element)
            else:
                element.value = None

    def apply(self, dataset: Dataset) -> None:
        """De-identify ``dataset`` in place (pixel data untouched)."""
        table = action_table()
        dataset.remove_private_tags()
        self._dataset(dataset, table)
        dataset.PatientName = self.pseudonym
        dataset.PatientID = self.pseudonym
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = METHOD
        dataset.DeidentificationMethodCodeSequence = Sequence(self._method_codes())
        dataset.LongitudinalTemporalInformationModified = (
            "UNMODIFIED" if self.retain_dates else "MODIFIED"
        )
        # PS3.10 7.1: the 128-byte preamble is the application's to fill (a TIFF header,
        # a vendor's label with the patient's name): dcmread keeps it, save_as writes it.
        dataset.preamble = b"\x00" * PREAMBLE_BYTES
        meta = getattr(dataset, "file_meta", None)
        if meta is not None:
            for tag in META_DROPPED:
                if tag in meta:
                    del meta[tag]
            if "SOPInstanceUID" in dataset:
                meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID

    def _method_codes(self) -> list[Dataset]:
        """CID 7050 codes: the basic profile, and the temporal option used."""
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if self.retain_dates:
            codes.append(("113106", "Retain Longitudinal Temporal Information Full Dates Option"))
        else:
            codes.append(
                ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
            )
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        return items
