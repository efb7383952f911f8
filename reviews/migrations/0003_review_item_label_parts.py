"""Review items keep what their label is made of, not the label.

The label was built once, when the review opened, in the site's default language
(English), and shown as stored: "Tom Teammate (member)" on French screens, in the CSV
and in the audit log. Items now keep the person and their role, the file or folder, the
recipient and its kind, the link's maker; the label is built when shown, in the
reader's language (reviews/labels.py).

Existing items: their stored text is read back into those parts where it has the shape
the opening wrote ("<name> (member|manager)", "<item> → <person or team>", "<item> →
<address or anyone with the link> (<maker>)"; the French words too, should a site have
opened reviews in French). A share's recipient kind comes from the share when it still
exists, else from a team of that name (a person otherwise). What cannot be read back
stays as stored, in ``unparsed_label``, and is shown as it was.

Whether the item is a file or a folder (``subject_kind``, what a reader who may not
read the team's file names reads instead of the name) comes from the label without
names that 0002 stored ("a folder → …"), else from the share or link when it still
exists; that label is then dropped, built when shown like the other.
"""

import re

from django.db import migrations, models

_ROLES = {"member": "member", "membre": "member", "manager": "manager", "responsable": "manager"}
_MEMBER = re.compile(r"^(?P<name>.*) \((?P<role>member|manager|membre|responsable)\)\Z", re.DOTALL)
_ANYONE = ("anyone with the link", "toute personne ayant le lien")
_LINK = re.compile(
    r"^(?P<item>.*) → (?P<to>anyone with the link|toute personne ayant le lien|[^\s()]+@[^\s()]+)"
    r" \((?P<creator>.*)\)\Z",
    re.DOTALL,
)


def _parts_of(item, share_model, team_model):
    """The parts of an item's stored label, or None when it does not read back."""
    label = item.unparsed_label
    if item.kind == "member":
        found = _MEMBER.match(label)
        if found is None:
            return None
        return {"subject_name": found["name"], "member_role": _ROLES[found["role"]]}
    if item.kind == "share":
        subject, arrow, recipient = label.rpartition(" → ")
        if not arrow or not subject:
            return None
        share = share_model.objects.filter(pk=item.object_id).first()
        if share is not None:
            kind = "team" if share.team_id is not None and share.user_id is None else "person"
        else:
            kind = "team" if team_model.objects.filter(name=recipient).exists() else "person"
        return {"subject_name": subject, "recipient_kind": kind, "recipient_name": recipient}
    if item.kind == "link":
        found = _LINK.match(label)
        if found is None:
            return None
        anyone = found["to"] in _ANYONE
        return {
            "subject_name": found["item"],
            "recipient_kind": "anyone" if anyone else "address",
            "recipient_name": "" if anyone else found["to"],
            "creator_name": found["creator"],
        }
    return None


_FOLDER_WORDS = ("a folder →", "un dossier →")
_FILE_WORDS = ("a file →", "un fichier →")


def _subject_kind_of(item, share_model, link_model):
    if item.label_without_names.startswith(_FOLDER_WORDS):
        return "folder"
    if item.label_without_names.startswith(_FILE_WORDS):
        return "file"
    model = {"share": share_model, "link": link_model}.get(item.kind)
    row = model.objects.filter(pk=item.object_id).first() if model is not None else None
    if row is None:
        return ""
    return "folder" if row.folder_id is not None else "file"


def subject_kinds_read_back(apps, schema_editor):
    item_model = apps.get_model("reviews", "AccessReviewItem")
    share_model = apps.get_model("sharing", "Share")
    link_model = apps.get_model("sharing", "ShareLink")
    for item in item_model.objects.exclude(kind="member").iterator():
        item.subject_kind = _subject_kind_of(item, share_model, link_model)
        item.save(update_fields=["subject_kind"])


def labels_read_back(apps, schema_editor):
    item_model = apps.get_model("reviews", "AccessReviewItem")
    share_model = apps.get_model("sharing", "Share")
    team_model = apps.get_model("accounts", "Team")
    for item in item_model.objects.exclude(unparsed_label="").iterator():
        parts = _parts_of(item, share_model, team_model)
        if parts is None:
            continue  # shown as stored
        for name, value in parts.items():
            setattr(item, name, value[:400] if name != "creator_name" else value[:200])
        item.unparsed_label = ""
        item.save(update_fields=[*parts, "unparsed_label"])


def subject_kinds_written_again(apps, schema_editor):
    """Going back: 0002's English label without names, from the parts."""
    item_model = apps.get_model("reviews", "AccessReviewItem")
    for item in item_model.objects.exclude(kind="member").exclude(subject_kind="").iterator():
        subject = "a folder" if item.subject_kind == "folder" else "a file"
        if item.kind == "share":
            without = f"{subject} → {item.recipient_name}"
        else:
            to = item.recipient_name or "anyone with the link"
            without = f"{subject} → {to} ({item.creator_name})"
        item.label_without_names = without[:400]
        item.save(update_fields=["label_without_names"])


def labels_written_again(apps, schema_editor):
    """Going back: the English label, as 0001 stored it, from the parts."""
    item_model = apps.get_model("reviews", "AccessReviewItem")
    for item in item_model.objects.filter(unparsed_label="").iterator():
        if item.kind == "member":
            label = f"{item.subject_name} ({item.member_role})"
        elif item.kind == "share":
            label = f"{item.subject_name} → {item.recipient_name}"
        else:
            to = item.recipient_name or "anyone with the link"
            label = f"{item.subject_name} → {to} ({item.creator_name})"
        item.unparsed_label = label[:400]
        item.save(update_fields=["unparsed_label"])


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0002_item_label_without_names"),
        ("sharing", "0008_link_previews_count_as_uses"),
        ("accounts", "0009_recovery_codes_key"),
    ]

    operations = [
        migrations.RenameField(
            model_name="accessreviewitem", old_name="label", new_name="unparsed_label"
        ),
        migrations.AlterField(
            model_name="accessreviewitem",
            name="unparsed_label",
            field=models.CharField(blank=True, max_length=400),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="subject_name",
            field=models.CharField(blank=True, max_length=400),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="member_role",
            field=models.CharField(
                blank=True,
                choices=[("member", "member"), ("manager", "manager")],
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="recipient_kind",
            field=models.CharField(
                blank=True,
                choices=[
                    ("person", "a person"),
                    ("team", "a team"),
                    ("address", "an e-mail address"),
                    ("anyone", "anyone with the link"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="recipient_name",
            field=models.CharField(blank=True, max_length=400),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="creator_name",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="accessreviewitem",
            name="subject_kind",
            field=models.CharField(
                blank=True, choices=[("file", "a file"), ("folder", "a folder")], max_length=10
            ),
        ),
        migrations.RunPython(labels_read_back, labels_written_again),
        migrations.RunPython(subject_kinds_read_back, subject_kinds_written_again),
        migrations.RemoveField(model_name="accessreviewitem", name="label_without_names"),
    ]
