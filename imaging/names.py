"""DICOM person names as a person reads them.

A Person Name (PN) value is stored as components separated by "^" (PS3.5 6.2: family
name, given name, middle name, prefix, suffix), e.g. ``DUPONT^MARIE^CLAIRE``. Shown raw,
a clinician reads "DUPONT^MARIE^CLAIRE". French hospital software writes the family name
in capitals, then the given names: "DUPONT Marie Claire" (with a prefix: "Mme DUPONT
Marie"). pydicom's ``PersonName`` splits the components (and the alphabetic group of a
name that also has ideographic or phonetic ones): no splitting by hand.
"""

from __future__ import annotations

import re

from pydicom.valuerep import PersonName

_WORD_START = re.compile(r"(^|[\s\-'\u2019])(\w)")


def _given(text: str) -> str:
    """ "MARIE-CLAIRE" -> "Marie-Claire"; a name already in mixed case is kept."""
    if text != text.upper():
        return text
    lowered = text.lower()
    return _WORD_START.sub(lambda match: match.group(1) + match.group(2).upper(), lowered)


def study_label(*, patient_name: str, patient_id: str, description: str, date: str) -> str:
    """How an auditor reads a study in the audit log: "DUPONT Marie Claire (SD-PAT-0042),
    CT THORAX ABDOMEN, 2026-04-12" (``date`` ISO or DICOM's YYYYMMDD). Not for pages or
    e-mails others read: the audit log is the auditor's."""
    day = date.strip()
    if len(day) == 8 and day.isdigit():
        day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    who = person_name_words(patient_name.strip())
    patient = f"{who} ({patient_id.strip()})" if who and patient_id.strip() else who or patient_id
    return ", ".join(part for part in (patient, description.strip(), day) if part)[:300]


def person_name_words(raw: str) -> str:
    """``DUPONT^MARIE^CLAIRE^Mme`` -> ``Mme DUPONT Marie Claire``; a name that is not
    in components (a pseudonym such as ``ANON-1X2Y3Z4W``) is a family name: unchanged."""
    if not raw:
        return ""
    name = PersonName(raw)
    family = " ".join(name.family_name.split()).upper()
    given = [_given(" ".join(part.split())) for part in (name.given_name, name.middle_name)]
    parts = [_given(name.name_prefix.strip()), family, *given]
    shown = " ".join(part for part in parts if part)
    suffix = _given(name.name_suffix.strip())
    return f"{shown}, {suffix}" if suffix and shown else shown or suffix
