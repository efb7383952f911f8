"""SCIM Users: SecureDrive accounts as the directory sees and changes them.

``userName`` is the directory's (often the sign-in name); the account's e-mail is the
primary address of ``emails`` (or ``userName`` when it is one). ``displayName`` (else
``name.formatted``, else given and family names) is the person's full name.
``active: false`` — by PUT, PATCH or DELETE — runs the same offboarding as the admin's
button (``accounts.offboarding.user_deactivate``), with the successor the token's rule
gives (directory/successor.py); ``active: true`` reactivates (a new second factor then).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone
from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException
from scim2_models import User as ScimUser

from accounts import address_change, offboarding, roles, security_notices
from accounts.errors import AccountRuleError
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from core.http import id_number
from directory.models import DirectoryAccount, DirectoryToken
from directory.scim import discovery
from directory.scim.errors import (
    ScimError,
    from_library,
    invalid_value,
    not_found,
    uniqueness,
)
from directory.successor import successor_for
from directory.tokens import token_label

# DirectoryAccount.user_name and external_id (max_length).
IDENTIFIER_MAX_LENGTH = 300
# What the account keeps (accounts/models.py, as the admin's form): the full name, made
# of displayName, name.formatted or the given and family names, and an e-mail address
# (RFC 5321's 254). The other name parts and the e-mails' sub-attributes are only echoed
# back (DirectoryAccount.name, emails): the same limits, so that what the directory reads
# back is what it sent and a request cannot store an unbounded name.
FULL_NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
# Entra ID and Okta send one address, HR connectors a few (work, home).
EMAILS_MAX = 10


def users_visible() -> QuerySet[User]:
    """Every account but those the directory deleted, with the fields filters use."""
    return (
        User.objects.exclude(directory_account__deleted_at__isnull=False)
        .select_related("directory_account")
        .prefetch_related("memberships__team")
        .annotate(
            scim_id=Cast("pk", CharField()),
            scim_user_name=Coalesce(
                "directory_account__user_name", "email", output_field=CharField()
            ),
            scim_display_name=Coalesce(
                NullIf("full_name", Value("")), "email", output_field=CharField()
            ),
        )
        .order_by("pk")
    )


def user_get(user_id: str) -> User:
    number = id_number(user_id)
    if number is None:
        raise not_found("User")
    user = users_visible().filter(pk=number).first()
    if user is None:
        raise not_found("User")
    return user


def user_label(user: User) -> str:
    """A person as the audit log names them: "Alice Martin <alice@…>"."""
    return f"{user.full_name} <{user.email}>" if user.full_name else user.email


def _account(user: User) -> DirectoryAccount | None:
    return getattr(user, "directory_account", None)


def version_of(body: dict[str, Any]) -> str:
    """The weak ETag (RFC 7232) of a representation: a digest of everything but meta."""
    content = {key: value for key, value in body.items() if key != "meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f'W/"{digest[:20]}"'


def user_representation(user: User) -> dict[str, Any]:
    account = _account(user)
    base = discovery.base_url()
    emails = account.emails if account and account.emails else []
    if not any(isinstance(e, dict) and e.get("value") == user.email for e in emails):
        emails = [{"value": user.email, "type": "work", "primary": True}]
    body: dict[str, Any] = {
        "schemas": [discovery.USER_SCHEMA],
        "id": str(user.pk),
        "userName": account.user_name if account else user.email,
        "active": user.is_active,
        "emails": emails,
        "groups": [
            {
                "value": str(membership.team_id),
                "display": membership.team.name,
                "$ref": f"{base}/Groups/{membership.team_id}",
                "type": "direct",
            }
            for membership in user.memberships.all()
        ],
    }
    if user.full_name:
        body["displayName"] = user.full_name
    if account and account.external_id:
        body["externalId"] = account.external_id
    if account and account.name:
        body["name"] = account.name
    created = account.created_at if account else user.date_joined
    modified = account.updated_at if account else user.date_joined
    body["meta"] = {
        "resourceType": "User",
        "created": created.isoformat(),
        "lastModified": modified.isoformat(),
        "location": f"{base}/Users/{user.pk}",
    }
    body["meta"]["version"] = version_of(body)
    return body


# RFC 7643 §4.3's enterprise extension (department, employeeNumber, manager…). Entra
# ID's default mappings send it with every person and put its changes in the same PATCH
# as ``active``; SecureDrive keeps none of it, and refusing it refused the whole request:
# nobody with a department was created, and a leaver moved to another department as
# they were disabled stayed active. It is left out, as a core attribute we do not keep
# (title, phoneNumbers) is; it is not published (discovery.py), so no directory relies on
# it being echoed back.
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"


def _is_enterprise(name: object) -> bool:
    return isinstance(name, str) and name.strip().lower().startswith(ENTERPRISE_URN)


def _without_enterprise(body: dict[str, Any]) -> dict[str, Any]:
    """A resource (POST, PUT, a PATCH value without a path) without the extension."""
    cleaned = {key: value for key, value in body.items() if not _is_enterprise(key)}
    if isinstance(body.get("schemas"), list):
        cleaned["schemas"] = [urn for urn in body["schemas"] if not _is_enterprise(urn)]
    return cleaned


def _operations_without_enterprise(body: dict[str, Any]) -> dict[str, Any]:
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    kept: list[Any] = []
    for operation in operations:
        if isinstance(operation, dict):
            if _is_enterprise(operation.get("path")):
                continue
            value = operation.get("value")
            if operation.get("path") is None and isinstance(value, dict):
                if not (value := _without_enterprise(value)):
                    continue
                operation = {**operation, "value": value}
        kept.append(operation)
    return {**body, "Operations": kept}


class _Wanted:
    """What a POST or PUT body asks for, checked."""

    def __init__(self, body: dict[str, Any], *, context: Context) -> None:
        body = _without_enterprise(body)
        try:
            parsed: Any = ScimUser.model_validate(body, scim_ctx=context)
        except (ValidationError, SCIMException) as error:
            raise from_library(error) from error
        data = parsed.model_dump(scim_ctx=context)
        self.user_name = str(data.get("userName") or "").strip()
        if not self.user_name:
            raise invalid_value("userName is required")
        self.external_id = str(data.get("externalId") or "")
        # The columns' size (directory/models.py): longer was a database error, a 500.
        if len(self.user_name) > IDENTIFIER_MAX_LENGTH:
            raise invalid_value(f"userName is longer than {IDENTIFIER_MAX_LENGTH} characters")
        if len(self.external_id) > IDENTIFIER_MAX_LENGTH:
            raise invalid_value(f"externalId is longer than {IDENTIFIER_MAX_LENGTH} characters")
        self.name = data.get("name") or {}
        self.emails = [e for e in data.get("emails") or [] if isinstance(e, dict)]
        _check_lengths(data.get("displayName"), self.name, self.emails)
        # None when the body does not say: a new account is active, a replaced one keeps
        # its state (a leaver comes back only on an explicit ``active: true``).
        active = data.get("active")
        self.active: bool | None = None if active is None else active is not False
        primary = next((e for e in self.emails if e.get("primary")), None)
        address = (primary or (self.emails[0] if self.emails else {})).get("value")
        self.email = str(address or self.user_name).strip().lower()
        try:
            validate_email(self.email)
        except DjangoValidationError as error:
            raise invalid_value("An e-mail address is needed (emails or userName)") from error
        given_and_family = " ".join(
            part for part in (self.name.get("givenName"), self.name.get("familyName")) if part
        )
        display = data.get("displayName") or self.name.get("formatted") or given_and_family
        self.full_name = str(display or "").strip()
        if len(self.full_name) > FULL_NAME_MAX_LENGTH:
            # Each part fits (_check_lengths): the two together do not.
            raise invalid_value(
                "name.givenName and name.familyName together are longer than "
                f"{FULL_NAME_MAX_LENGTH} characters (the account's full name): send a "
                "shorter displayName or name.formatted"
            )


def _too_long(attribute: str, limit: int) -> ScimError:
    return invalid_value(f"{attribute} is longer than {limit} characters")


def _check_lengths(
    display_name: object, name: dict[str, Any], emails: list[dict[str, Any]]
) -> None:
    """What the account keeps and what is echoed back, within the account's limits: a
    longer name was cut without a word (the name people saw was not the directory's)
    or stored whole, with no limit at all. Each refusal names the attribute."""
    if isinstance(display_name, str) and len(display_name.strip()) > FULL_NAME_MAX_LENGTH:
        raise _too_long("displayName", FULL_NAME_MAX_LENGTH)
    for part, value in name.items():
        if isinstance(value, str) and len(value.strip()) > FULL_NAME_MAX_LENGTH:
            raise _too_long(f"name.{part}", FULL_NAME_MAX_LENGTH)
    if len(emails) > EMAILS_MAX:
        raise invalid_value(f"emails holds more than {EMAILS_MAX} addresses")
    for index, email in enumerate(emails):
        for part, value in email.items():
            if isinstance(value, str) and len(value) > EMAIL_MAX_LENGTH:
                raise _too_long(f"emails[{index}].{part}", EMAIL_MAX_LENGTH)


def _clash(*, email: str, user_name: str, external_id: str, exclude: int | None = None) -> None:
    _external_id_clash(external_id=external_id, exclude=exclude)
    emails = User.objects.filter(email__iexact=email)
    names = DirectoryAccount.objects.filter(user_name__iexact=user_name)
    # An account the directory never wrote has its e-mail address as userName
    # (user_representation): a second account with that userName would make
    # ``userName eq`` answer two people, and a directory matching by userName could
    # deactivate the wrong one.
    names_by_email = User.objects.filter(email__iexact=user_name, directory_account__isnull=True)
    if exclude is not None:
        emails, names = emails.exclude(pk=exclude), names.exclude(user_id=exclude)
        names_by_email = names_by_email.exclude(pk=exclude)
    if emails.exists() or names.exists() or names_by_email.exists():
        raise uniqueness("Another account has this userName or e-mail address")


def _external_id_clash(*, external_id: str, exclude: int | None) -> None:
    """The directory's own identifier of a person names one account: with two, a
    directory matching on externalId (Okta's and HR connectors' common setting) would
    change, or deactivate, whichever it found first. Case-exact (RFC 7643 §3.1); an
    account the directory deleted does not count (RFC 7644 §3.6)."""
    if not external_id:
        return
    holders = DirectoryAccount.objects.filter(external_id=external_id, deleted_at__isnull=True)
    if exclude is not None:
        holders = holders.exclude(user_id=exclude)
    if holders.exists():
        raise uniqueness(f"Another account has this externalId (“{external_id[:60]}”)")


def _uniqueness_after_race(*, external_id: str, exclude: int | None) -> ScimError:
    """The 409 for a write the database refused (IntegrityError): a request at the same
    instant took the identifier after this one's checks passed, and the constraints
    (directory_account_external_id_once, the unique e-mail and userName) held. Its row
    is committed now, so the check names the identifier as it would have."""
    try:
        _external_id_clash(external_id=external_id, exclude=exclude)
    except ScimError as clash:
        return clash
    return uniqueness("Another account has this userName or e-mail address")


def _removed_account(wanted: _Wanted) -> User | None:
    """The account the directory deleted that a POST names again by its userName or its
    e-mail address (HR rehires someone), if any."""
    removed = list(
        User.objects.filter(directory_account__deleted_at__isnull=False)
        .filter(
            Q(directory_account__user_name__iexact=wanted.user_name) | Q(email__iexact=wanted.email)
        )
        .select_related("directory_account")[:2]
    )
    if len(removed) > 1:
        raise uniqueness(
            "This userName and this e-mail address belong to two different accounts the "
            "directory removed: send the userName and e-mail address of the same person"
        )
    return removed[0] if removed else None


def user_create(*, token: DirectoryToken, body: dict[str, Any]) -> User:
    """POST: a new account, or the account the directory removed when the request names
    it again (``user_restore``)."""
    wanted = _Wanted(body, context=Context.RESOURCE_CREATION_REQUEST)
    removed = _removed_account(wanted)
    if removed is not None:
        try:
            return user_restore(token=token, user=removed, wanted=wanted)
        except ScimError as error:
            error.subject = {"user": user_label(removed)}
            raise
    _clash(email=wanted.email, user_name=wanted.user_name, external_id=wanted.external_id)
    active = wanted.active is not False
    try:
        with transaction.atomic():
            # No password: the person signs in through the organisation's identity
            # provider, or an admin sends a set-up link.
            user = User.objects.create_user(
                wanted.email, None, full_name=wanted.full_name, is_active=active
            )
            if not active:
                User.objects.filter(pk=user.pk).update(deactivated_at=timezone.now())
            DirectoryAccount.objects.create(
                user=user,
                user_name=wanted.user_name,
                external_id=wanted.external_id,
                name=wanted.name,
                emails=wanted.emails,
            )
            audit.record(
                action=Action.DIRECTORY_USER_CREATE,
                actor=None,
                actor_label=token_label(token),
                target_type="accounts.user",
                target_id=user.pk,
                details={
                    "email": user.email,
                    "user_name": wanted.user_name,
                    "external_id": wanted.external_id,
                    "active": active,
                },
            )
    except IntegrityError as error:  # a concurrent create of the same person
        raise _uniqueness_after_race(external_id=wanted.external_id, exclude=None) from error
    return user_get(str(user.pk))


def user_restore(*, token: DirectoryToken, user: User, wanted: _Wanted) -> User:
    """A POST naming an account the directory deleted: that account comes back, changed
    as the request says, through the admin's reactivation (``user_reactivate``: no old
    password, no second factor, no site-wide role, no team), all audited. The directory
    keeps no account twice, and RFC 7644 §3.6 says a deleted resource SHOULD NOT be a
    conflict: the 409 it got for ever meant a rehired person could not be provisioned.

    Two cases are SecureDrive's to decide, not a directory token's, and the refusal
    says what to do: a former site administrator or auditor (a stolen token must not
    revive one), and a request without the externalId the account had (the same person
    under a new directory entry, or a namesake given a recycled address, who must not
    receive the account and the files kept with it). Once an administrator has
    reactivated the account, the directory's next attempt links it."""
    account = user.directory_account
    removed_on = account.deleted_at.date().isoformat() if account.deleted_at else ""
    reactivate_there = (
        "a SecureDrive administrator reactivates it (Administration, the person's page), "
        "then this request succeeds"
    )
    if not user.is_active and (user.is_site_admin or user.is_auditor):
        raise ScimError(
            403,
            f"This person's account, removed by the directory on {removed_on}, was a site "
            f"administrator's or an auditor's: only SecureDrive brings it back: "
            f"{reactivate_there} (without its roles)",
            "mutability",
        )
    # The directory proves it is the same person by the externalId it gave the account
    # (Entra's objectId or mailNickname, Okta's user id): a userName or an address alone
    # may have been given to someone else since.
    same_identity = bool(account.external_id) and account.external_id == wanted.external_id
    if not user.is_active and not same_identity:
        raise uniqueness(
            f"This userName or e-mail address is an account the directory removed on "
            f"{removed_on}, and this request does not give its externalId: if it is the "
            f"same person, {reactivate_there}; if not, give them another userName and "
            "e-mail address"
        )
    _clash(
        email=wanted.email,
        user_name=wanted.user_name,
        external_id=wanted.external_id,
        exclude=user.pk,
    )
    try:
        _user_restore_apply(token=token, user=user, account=account, wanted=wanted)
    except IntegrityError as error:
        raise _uniqueness_after_race(external_id=wanted.external_id, exclude=user.pk) from error
    return user_get(str(user.pk))


def _user_restore_apply(
    *, token: DirectoryToken, user: User, account: DirectoryAccount, wanted: _Wanted
) -> None:
    with transaction.atomic():
        locked = DirectoryAccount.objects.select_for_update().get(pk=account.pk)
        if locked.deleted_at is None:  # brought back by a concurrent request
            raise uniqueness("Another account has this userName or e-mail address")
        removed_at = locked.deleted_at
        locked.deleted_at = None
        locked.save(update_fields=["deleted_at"])
        audit.record(
            action=Action.DIRECTORY_USER_RESTORE,
            actor=None,
            actor_label=token_label(token),
            target_type="accounts.user",
            target_id=user.pk,
            details={
                "email": user.email,
                "user_name": wanted.user_name,
                "external_id": wanted.external_id,
                "removed_at": removed_at.isoformat(),
            },
        )
        # A creation asks for an active account unless it says otherwise.
        _user_apply(token=token, user=user, wanted=wanted, active=wanted.active is not False)


def user_replace(*, token: DirectoryToken, user: User, body: dict[str, Any]) -> User:
    """PUT (and PATCH, once applied): the account becomes what ``body`` says."""
    wanted = _Wanted(body, context=Context.RESOURCE_REPLACEMENT_REQUEST)
    _clash(
        email=wanted.email,
        user_name=wanted.user_name,
        external_id=wanted.external_id,
        exclude=user.pk,
    )
    try:
        _user_apply(token=token, user=user, wanted=wanted, active=wanted.active)
    except IntegrityError as error:
        raise _uniqueness_after_race(external_id=wanted.external_id, exclude=user.pk) from error
    return user_get(str(user.pk))


def _user_apply(*, token: DirectoryToken, user: User, wanted: _Wanted, active: bool | None) -> None:
    """The account becomes what ``wanted`` says; ``active`` None keeps its state."""
    label = token_label(token)
    with transaction.atomic():
        if wanted.active is False:
            # A deactivation may take the last administrator's role: the roles' lock
            # before the person's row (accounts.roles.site_roles_lock).
            roles.site_roles_lock()
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        account = DirectoryAccount.objects.filter(user=locked).first() or DirectoryAccount(
            user=locked, created_at=locked.date_joined
        )
        changes: dict[str, Any] = {}
        for field, before, after in (
            ("email", locked.email, wanted.email),
            ("full_name", locked.full_name, wanted.full_name),
            ("user_name", account.user_name, wanted.user_name),
            ("external_id", account.external_id, wanted.external_id),
        ):
            if before != after:
                changes[field] = {"before": before, "after": after}
        active = locked.is_active if active is None else active
        if (locked.is_site_admin or locked.is_auditor) and (
            "email" in changes or (active and not locked.is_active)
        ):
            # A privileged account's sign-in address and its return are SecureDrive's to
            # decide (four-eyes roles, accounts/roles.py), never a directory token's: a
            # stolen token must not take over or revive an administrator or an auditor.
            # The directory may still rename them, and deactivate them when they leave.
            raise ScimError(
                403,
                "The directory may not change the e-mail of, or reactivate, a site "
                "administrator or an auditor: do it in SecureDrive",
                "mutability",
            )
        active_before = locked.is_active
        if active_before and not active:
            # Offboarded under the address the person had until now, before a new one
            # is saved: directories often rename a leaver in the same request, and the
            # transfers and links colleagues sent to the former address (a mailbox
            # someone may still read) must be withdrawn with the rest
            # (sharing/services/offboarding.py, links_to_leaver_offboarding_plan).
            _offboard(token=token, user=locked)
            locked.refresh_from_db()
        token_creator = user_label(token.created_by)
        fields = ["email", "full_name"]
        if "email" in changes:
            # A key to the account (a set-up link, a link to the identity provider) would
            # now go where the directory pointed it: for a while, only with a second
            # administrator's approval (accounts/credential_approvals.py). The token's
            # creator is named with it: with his own token, he could move the address to
            # his mailbox.
            locked.email_changed_at = timezone.now()
            locked.email_changed_by = label
            locked.email_changed_token_creator = token.created_by
            locked.email_previous = changes["email"]["before"]
            fields += [
                "email_changed_at",
                "email_changed_by",
                "email_changed_token_creator",
                "email_previous",
            ]
        locked.email, locked.full_name = wanted.email, wanted.full_name
        locked.save(update_fields=fields)
        withdrawn: dict[str, Any] = {}
        if "email" in changes:
            # What colleagues sent to the former address (links, transfers, invitations)
            # is withdrawn: that mailbox may now be someone else's. Nothing follows her
            # to the new one (accounts/address_change.py).
            withdrawn = address_change.user_address_change_apply(
                user=locked,
                former_email=changes["email"]["before"],
                actor=None,
                actor_label=label,
            )
        account.user_name, account.external_id = wanted.user_name, wanted.external_id
        account.name, account.emails = wanted.name, wanted.emails
        account.updated_at = timezone.now()
        account.save()
        if active_before != active:
            changes["active"] = {"before": active_before, "after": active}
        if changes:
            updated = audit.record(
                action=Action.DIRECTORY_USER_UPDATE,
                actor=None,
                actor_label=label,
                target_type="accounts.user",
                target_id=locked.pk,
                details={
                    "email": locked.email,
                    "changes": changes,
                    **({"token_created_by": token_creator} if "email" in changes else {}),
                    **withdrawn,
                },
            )
            if "email" in changes:
                # Set-up links and notices follow the address: the former one is told.
                security_notices.security_notice_queue(event=updated)
        if not locked.is_active and active:
            offboarding.user_reactivate(actor=None, user=locked, actor_label=label)


def _offboard(*, token: DirectoryToken, user: User) -> None:
    """The admin's offboarding, whole: sessions, tokens, links, transfers, requests,
    shares, files to the successor, report and e-mails. Inside the caller's transaction,
    which holds ``roles.site_roles_lock()`` and read ``user`` after it: two requests
    deactivating the last two administrators at once cannot both pass."""
    # As before, the directory is refused only the last administrator (without one,
    # nobody could manage accounts); the last auditor's departure is not checked here.
    if roles.last_holder_refusal(user=user, keeps_site_admin=False, keeps_auditor=True):
        raise ScimError(
            400, "The last active site administrator cannot be deactivated", "mutability"
        )
    try:
        offboarding.user_deactivate(
            actor=None,
            user=user,
            successor=successor_for(user=user, token=token),
            actor_label=token_label(token),
        )
    except AccountRuleError as error:
        raise ScimError(400, str(error), "invalidValue") from error


def user_patch(*, token: DirectoryToken, user: User, body: dict[str, Any]) -> User:
    """PATCH (RFC 7644 §3.5.2) with scim2-models' implementation of the operations,
    applied to the current representation, then saved as a PUT would be."""
    current = user_representation(user)
    current.pop("meta", None)
    current.pop("groups", None)  # read-only here: membership is changed on the Group
    kept = _operations_without_enterprise(body)
    if kept.get("Operations") == [] and body.get("Operations"):
        return user  # only the enterprise extension, which is not kept
    try:
        resource: Any = ScimUser.model_validate(current)
        operations: Any = PatchOp[ScimUser[Any]].model_validate(
            kept, scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        operations.patch(resource)
    except (ValidationError, SCIMException) as error:
        raise from_library(error) from error
    wanted = resource.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    return user_replace(token=token, user=user, body=wanted)


def user_delete(*, token: DirectoryToken, user: User) -> None:
    with transaction.atomic():
        roles.site_roles_lock()  # before the person's row (see _offboard)
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if user.is_active:
            _offboard(token=token, user=user)
        account, _created = DirectoryAccount.objects.get_or_create(
            user=user, defaults={"user_name": user.email, "created_at": user.date_joined}
        )
        account.deleted_at = timezone.now()
        account.save(update_fields=["deleted_at"])
        audit.record(
            action=Action.DIRECTORY_USER_DELETE,
            actor=None,
            actor_label=token_label(token),
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email},
        )
