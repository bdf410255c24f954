"""CSV import of contacts: upload, column mapping with a preview, the import itself, its progress.

``import_upload`` reads the header and guesses the mapping; ``import_preview`` validates the first
rows with a mapping; ``import_start`` queues the task, which calls ``import_run``. That validates
every row (E.164 phone via ``phonenumbers``, email, stage, consent, custom fields, duplicates in the
file), then writes all the valid rows in one transaction: a failure leaves nothing half-imported.
Rejected rows are kept on the import with their reason (the report). Progress is in Redis while
the task runs (the page polls it), on the row once it is done.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import audit
from accounts.limits import plan_limit_check, usage_increment
from accounts.models import Organization, User
from conversations.contacts import selectors
from conversations.contacts.models import ContactImport, CustomField, ImportStatus
from conversations.contacts.services import custom_value_clean, tag_names_normalized, tags_ensure
from conversations.models import (
    ConsentChange,
    ConsentKind,
    ConsentSource,
    Contact,
    LifecycleStage,
    OptIn,
    normalize_phone,
)
from conversations.services.common import _emit

logger = logging.getLogger(__name__)

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 60
BATCH = 2_000
PROGRESS_EVERY = 1_000
BASE_TARGETS = ("name", "phone", "email", "tags", "lifecycle_stage", "opt_in")
REGIONS = ("", "BR", "PT", "US", "ES", "AR", "MX", "GB")
_REGION_BY_TIME_ZONE_PREFIX = {
    "America/Sao_Paulo": "BR",
    "America/Bahia": "BR",
    "America/Fortaleza": "BR",
    "America/Recife": "BR",
    "America/Manaus": "BR",
    "America/Belem": "BR",
    "America/Cuiaba": "BR",
    "America/Campo_Grande": "BR",
    "America/Porto_Velho": "BR",
    "America/Rio_Branco": "BR",
    "America/Maceio": "BR",
    "America/Araguaina": "BR",
    "America/Noronha": "BR",
    "Europe/Lisbon": "PT",
    "Atlantic/Madeira": "PT",
    "Atlantic/Azores": "PT",
    "Europe/Madrid": "ES",
    "Europe/London": "GB",
    "America/Argentina": "AR",
    "America/Mexico_City": "MX",
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Los_Angeles": "US",
}


def default_region_for(organization: Organization) -> str:
    """The country a number without ``+`` most likely belongs to: the organization's time zone's."""
    zone = organization.time_zone or ""
    return next((region for prefix, region in _REGION_BY_TIME_ZONE_PREFIX.items() if zone.startswith(prefix)), "")


_GUESSES = {
    "name": ("name", "nome", "full name", "nome completo", "contact", "contato", "cliente"),
    "phone": ("phone", "telefone", "celular", "mobile", "whatsapp", "fone", "phone number", "número", "numero"),
    "email": ("email", "e-mail", "mail"),
    "tags": ("tags", "tag", "etiquetas", "labels"),
    "lifecycle_stage": ("stage", "lifecycle stage", "lifecycle", "estágio", "estagio", "etapa"),
    "opt_in": ("opt-in", "opt_in", "optin", "consent", "consentimento"),
}
_YES = {"yes", "y", "sim", "s", "true", "1", "opted_in", "opt-in", "in"}
_NO = {"no", "n", "não", "nao", "false", "0", "opted_out", "opt-out", "out"}


def target_choices(fields: list[CustomField]) -> list[tuple[str, str]]:
    """What a column can be mapped to (``""``: ignored)."""
    return [
        ("", _("Ignore this column")),
        ("name", _("Name")),
        ("phone", _("Phone")),
        ("email", _("Email")),
        ("tags", _("Tags (separated by ; or ,)")),
        ("lifecycle_stage", _("Lifecycle stage")),
        ("opt_in", _("Messaging consent (yes/no)")),
        *[(f"cf:{f.key}", _("Custom field: %(label)s") % {"label": f.label}) for f in fields],
    ]


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("The file is not text in UTF-8 or Windows-1252: save it as CSV (UTF-8)."))


def _reader(text: str) -> csv.reader:
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _rows(contact_import: ContactImport):
    contact_import.file.open("rb")
    try:
        text = _decode(contact_import.file.read())
    finally:
        contact_import.file.close()
    reader = _reader(text)
    next(reader, None)  # the header
    for number, row in enumerate(reader, start=2):
        if any(cell.strip() for cell in row):
            yield number, row


def guess_mapping(header: list[str], fields: list[CustomField]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    used: set[str] = set()
    by_label = {f.label.strip().lower(): f"cf:{f.key}" for f in fields} | {f.key: f"cf:{f.key}" for f in fields}
    for index, name in enumerate(header):
        cell = name.strip().lower()
        target = next((t for t, names in _GUESSES.items() if cell in names), None) or by_label.get(cell, "")
        if target and target not in used:
            mapping[str(index)] = target
            used.add(target)
    return mapping


@transaction.atomic
def import_upload(*, organization: Organization, by: User, file) -> ContactImport:
    """Store an uploaded CSV and read its header; refused with a clear reason when it cannot be imported."""
    name = getattr(file, "name", "") or "contacts.csv"
    if not name.lower().endswith((".csv", ".txt")):
        raise ValidationError(_("Upload a CSV file (.csv)."))
    if file.size > MAX_BYTES:
        raise ValidationError(_("The file is over %(n)d MB: split it in parts.") % {"n": MAX_BYTES // (1024 * 1024)})
    raw = file.read()
    text = _decode(raw)
    reader = _reader(text)
    try:
        header = [cell.strip()[:80] for cell in next(reader)]
    except StopIteration:
        raise ValidationError(_("The file is empty.")) from None
    except csv.Error as error:
        raise ValidationError(_("The file is not a readable CSV: %(error)s") % {"error": error}) from None
    if not any(header):
        raise ValidationError(_("The first line must name the columns (e.g. name, phone, email)."))
    if len(header) > MAX_COLUMNS:
        raise ValidationError(_("The file has more than %(n)d columns.") % {"n": MAX_COLUMNS})
    try:
        total = sum(1 for row in reader if any(cell.strip() for cell in row))
    except csv.Error as error:
        raise ValidationError(_("The file is not a readable CSV: %(error)s") % {"error": error}) from None
    if total == 0:
        raise ValidationError(_("The file has a header but no rows."))
    if total > MAX_ROWS:
        raise ValidationError(
            _("The file has %(n)d rows; import at most %(max)d at a time.") % {"n": total, "max": MAX_ROWS}
        )
    fields = selectors.custom_field_list(organization=organization)
    contact_import = ContactImport(
        organization=organization,
        created_by=by,
        original_name=name[:255],
        header=header,
        mapping=guess_mapping(header, fields),
        default_region=default_region_for(organization),
        total_rows=total,
    )
    file.seek(0)
    contact_import.file.save(f"org-{organization.pk}.csv", file, save=False)
    contact_import.save()
    return contact_import


def mapping_clean(*, contact_import: ContactImport, data: dict, fields: list[CustomField]) -> dict[str, str]:
    """The mapping a form posted (``col-<index>`` → target), checked: a phone column, each target once."""
    allowed = {value for value, _label in target_choices(fields) if value}
    mapping: dict[str, str] = {}
    for index in range(len(contact_import.header)):
        target = (data.get(f"col-{index}") or "").strip()
        if not target:
            continue
        if target not in allowed:
            raise ValidationError(_("Column %(n)d: choose what it holds from the list.") % {"n": index + 1})
        if target in mapping.values():
            raise ValidationError(_("Two columns are mapped to the same field; map each field once."))
        mapping[str(index)] = target
    if "phone" not in mapping.values():
        raise ValidationError(_("Map one column to Phone: contacts are matched by their phone number."))
    return mapping


@dataclass
class RowResult:
    number: int
    cells: list[str]
    values: dict = field(default_factory=dict)
    error: str = ""


class _Cleaner:
    """Turns one CSV row into contact values (or the reason it is rejected), with the organization's fields."""

    def __init__(self, *, organization: Organization, mapping: dict, header: list[str], default_region: str = ""):
        self.mapping = {int(k): v for k, v in mapping.items()}
        self.header = header
        self.region = default_region or None
        self.fields = {f.key: f for f in selectors.custom_field_list(organization=organization)}
        labels = {}
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                labels.update({str(label).lower(): value for value, label in LifecycleStage.choices})
        self.stages = labels | {value: value for value in LifecycleStage.values}

    def clean(self, number: int, row: list[str]) -> RowResult:
        result = RowResult(number=number, cells=row)
        values: dict = {"custom": {}}
        problems = []
        for index, target in self.mapping.items():
            cell = row[index].strip() if index < len(row) else ""
            try:
                if target == "phone":
                    values["phone"] = normalize_phone(cell, self.region)
                elif not cell:
                    continue
                elif target == "name":
                    values["name"] = " ".join(cell.split())[: Contact._meta.get_field("name").max_length]
                elif target == "email":
                    validate_email(cell)
                    values["email"] = cell.lower()
                elif target == "tags":
                    values["tags"] = tag_names_normalized(cell)
                elif target == "lifecycle_stage":
                    stage = self.stages.get(cell.lower())
                    if stage is None:
                        raise ValidationError(_("unknown lifecycle stage “%(value)s”") % {"value": cell[:40]})
                    values["lifecycle_stage"] = stage
                elif target == "opt_in":
                    word = cell.lower()
                    if word in _YES:
                        values["opt_in"] = OptIn.OPTED_IN
                    elif word in _NO:
                        values["opt_in"] = OptIn.OPTED_OUT
                    else:
                        raise ValidationError(_("consent must be yes or no (got “%(value)s”)") % {"value": cell[:40]})
                elif target.startswith("cf:"):
                    definition = self.fields.get(target[3:])
                    if definition is not None:
                        values["custom"][definition.key] = custom_value_clean(definition, cell)
            except ValidationError as error:
                # Named as the file names the column: what the person sees in their spreadsheet.
                column = self.header[index] if index < len(self.header) and self.header[index] else target
                problems.append(f"{column}: {' '.join(error.messages)}")
        if problems:
            result.error = "; ".join(problems)
        result.values = values
        return result


def import_preview(
    *, contact_import: ContactImport, mapping: dict, default_region: str = "", limit: int = 10
) -> list[RowResult]:
    cleaner = _Cleaner(
        organization=contact_import.organization,
        mapping=mapping,
        header=contact_import.header,
        default_region=default_region,
    )
    results = []
    for number, row in _rows(contact_import):
        results.append(cleaner.clean(number, row))
        if len(results) >= limit:
            break
    return results


@transaction.atomic
def import_start(*, contact_import: ContactImport, by: User, mapping: dict, default_region: str = "") -> ContactImport:
    contact_import = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
    if contact_import.status != ImportStatus.UPLOADED:
        raise ValidationError(_("This import has already started."))
    if default_region not in REGIONS:
        raise ValidationError(_("Choose a country from the list."))
    if "phone" not in mapping.values():
        raise ValidationError(_("Map one column to Phone: contacts are matched by their phone number."))
    contact_import.mapping = mapping
    contact_import.default_region = default_region
    contact_import.status = ImportStatus.QUEUED
    contact_import.save(update_fields=["mapping", "default_region", "status"])
    audit.record(
        organization=contact_import.organization_id,
        actor=by,
        action="contacts.import_started",
        obj=contact_import,
        changes={},
        metadata={"rows": contact_import.total_rows, "mapping": mapping},
    )
    import_id = contact_import.pk
    transaction.on_commit(lambda: _enqueue(import_id))
    return contact_import


def _enqueue(import_id: int) -> None:
    from conversations.contacts.tasks import run_contact_import

    run_contact_import.delay(import_id)


# --- Progress -------------------------------------------------------------------------------------------

_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _redis


def _progress_key(import_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:contact-import:{import_id}:progress"


def _progress_set(import_id: int, done: int) -> None:
    _client().set(_progress_key(import_id), done, ex=86_400)


def progress(contact_import: ContactImport) -> int:
    """Percent done: from Redis while the task runs (validating is the first half, writing the second)."""
    if contact_import.is_finished:
        return 100
    if contact_import.status != ImportStatus.RUNNING or not contact_import.total_rows:
        return 0
    done = int(_client().get(_progress_key(contact_import.pk)) or 0)
    return min(99, done * 100 // (2 * contact_import.total_rows))


# --- The run --------------------------------------------------------------------------------------------


def import_run(*, import_id: int) -> ContactImport | None:
    """Validate every row, then write the valid ones in one transaction. Safe to run twice (a finished
    or running import is left alone)."""
    with transaction.atomic():
        contact_import = (
            ContactImport.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "created_by")
            .filter(pk=import_id, status=ImportStatus.QUEUED)
            .first()
        )
        if contact_import is None:
            return None
        contact_import.status = ImportStatus.RUNNING
        contact_import.save(update_fields=["status"])
    _progress_set(import_id, 0)
    person = contact_import.created_by
    try:
        # The report is read by the person who imported: in their language.
        with translation.override(person.language if person else contact_import.organization.locale):
            valid, rejected = _validate(contact_import)
        with transaction.atomic():
            created, updated = _write(contact_import, valid)
            contact_import.status = ImportStatus.DONE
            contact_import.created_count, contact_import.updated_count = created, updated
            contact_import.rejected_count = len(rejected)
            contact_import.rejected = rejected[: ContactImport.REJECTED_KEPT]
            contact_import.finished_at = timezone.now()
            contact_import.save()
            audit.record(
                organization=contact_import.organization_id,
                actor=contact_import.created_by,
                action="contacts.imported",
                obj=contact_import,
                changes={},
                metadata={"created": created, "updated": updated, "rejected": len(rejected)},
            )
        _forget_file(contact_import)
    except ValidationError as error:
        _fail(contact_import, " ".join(error.messages))
    except Exception as error:
        logger.exception("contact import %s failed", import_id)
        _fail(
            contact_import,
            _("The import stopped on an unexpected error (%(error)s); nothing was imported.")
            % {"error": type(error).__name__},
        )
    return contact_import


def _fail(contact_import: ContactImport, reason: str) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ImportStatus.FAILED, error=reason[:2000], finished_at=timezone.now()
    )
    contact_import.status, contact_import.error = ImportStatus.FAILED, reason
    _forget_file(contact_import)


def _forget_file(contact_import: ContactImport) -> None:
    """The uploaded file holds people's data: once imported (or refused) only the counts and the report stay."""
    name = contact_import.file.name
    if not name:
        return
    ContactImport.objects.filter(pk=contact_import.pk).update(file="")
    contact_import.file.storage.delete(name)
    contact_import.file.name = ""


def _validate(contact_import: ContactImport) -> tuple[dict[str, dict], list[dict]]:
    cleaner = _Cleaner(
        organization=contact_import.organization,
        mapping=contact_import.mapping,
        header=contact_import.header,
        default_region=contact_import.default_region,
    )
    valid: dict[str, dict] = {}
    first_row: dict[str, int] = {}
    rejected: list[dict] = []
    phone_index = next(int(k) for k, v in contact_import.mapping.items() if v == "phone")
    for count, (number, row) in enumerate(_rows(contact_import), start=1):
        result = cleaner.clean(number, row)
        phone = result.values.get("phone")
        if not result.error and phone in valid:
            column = contact_import.header[phone_index] or "phone"
            result.error = _("%(column)s: the same number as row %(n)d") % {"column": column, "n": first_row[phone]}
        if result.error:
            cell = row[phone_index] if phone_index < len(row) else ""
            rejected.append({"row": number, "phone": cell[:40], "reason": result.error[:300]})
        else:
            valid[phone] = result.values
            first_row[phone] = number
        if count % PROGRESS_EVERY == 0:
            _progress_set(contact_import.pk, count)
    return valid, rejected


def _write(contact_import: ContactImport, valid: dict[str, dict]) -> tuple[int, int]:
    organization = contact_import.organization
    total = contact_import.total_rows
    existing: dict[str, Contact] = {}
    phones = list(valid)
    for start in range(0, len(phones), BATCH):
        for contact in Contact.objects.filter(organization=organization, phone__in=phones[start : start + BATCH]):
            existing[contact.phone] = contact
    new_phones = [phone for phone in phones if phone not in existing]
    if new_phones:
        plan_limit_check(organization=organization, resource="contacts", adding=len(new_phones))
    all_tags = {name for values in valid.values() for name in values.get("tags", [])}
    tags = tags_ensure(organization=organization, names=sorted(all_tags)) if all_tags else {}
    now = timezone.now()
    consent_changes: list[ConsentChange] = []
    tag_links: list = []
    through = Contact.tags.through
    done = 0

    def progress_step(n: int) -> None:
        nonlocal done
        done += n
        _progress_set(contact_import.pk, total + done)

    for start in range(0, len(new_phones), BATCH):
        chunk = new_phones[start : start + BATCH]
        rows = []
        for phone in chunk:
            values = valid[phone]
            opt_in = values.get("opt_in", OptIn.UNKNOWN)
            rows.append(
                Contact(
                    organization=organization,
                    phone=phone,
                    name=values.get("name", ""),
                    email=values.get("email", ""),
                    lifecycle_stage=values.get("lifecycle_stage", LifecycleStage.LEAD),
                    opt_in=opt_in,
                    opt_in_source=ConsentSource.IMPORT if opt_in != OptIn.UNKNOWN else "",
                    opt_in_changed_at=now if opt_in != OptIn.UNKNOWN else None,
                    custom_fields=values["custom"],
                )
            )
        _insert_rows(rows, now)
        for contact in rows:
            values = valid[contact.phone]
            tag_links.extend(through(contact_id=contact.pk, tag_id=tags[n.lower()].pk) for n in values.get("tags", []))
            if contact.opt_in != OptIn.UNKNOWN:
                consent_changes.append(_consent_row(contact, contact.opt_in, contact_import))
        progress_step(len(chunk))
    changed: list[Contact] = []
    for phone, contact in existing.items():
        values = valid[phone]
        for name in ("name", "email", "lifecycle_stage"):
            if values.get(name):
                setattr(contact, name, values[name])
        if values["custom"]:
            contact.custom_fields = {**contact.custom_fields, **values["custom"]}
        opt_in = values.get("opt_in")
        if opt_in and opt_in != contact.opt_in:
            contact.opt_in, contact.opt_in_source, contact.opt_in_changed_at = opt_in, ConsentSource.IMPORT, now
            consent_changes.append(_consent_row(contact, opt_in, contact_import))
        contact.updated_at = now
        changed.append(contact)
        tag_links.extend(through(contact_id=contact.pk, tag_id=tags[n.lower()].pk) for n in values.get("tags", []))
    for start in range(0, len(changed), BATCH):
        _update_rows(changed[start : start + BATCH])
        progress_step(len(changed[start : start + BATCH]))
    for start in range(0, len(tag_links), BATCH * 5):
        _link_tags(tag_links[start : start + BATCH * 5])
    ConsentChange.objects.bulk_create(consent_changes, batch_size=BATCH)
    if new_phones:
        usage_increment(organization=organization, field="contacts_created", by=len(new_phones))
        # One event for the import, not one per row: listeners of single contacts are not woken 100,000 times.
        _emit("contacts.imported", organization.pk, import_id=contact_import.pk, created=len(new_phones))
    return len(new_phones), len(changed)


_INSERT_SQL = """
INSERT INTO conversations_contact
    (organization_id, name, phone, email, lifecycle_stage, opt_in, opt_in_source, opt_in_changed_at,
     marketing_opt_in, is_blocked, lead_score, custom_fields, created_at, updated_at)
VALUES {rows}
RETURNING id
"""
_INSERT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, false, false, %s, %s::jsonb, %s, %s)"


def _insert_rows(contacts: list[Contact], now) -> None:
    """One multi-row ``INSERT … RETURNING id`` per batch, ids set on ``contacts`` in order (PostgreSQL returns
    them in the VALUES order for a plain insert)."""
    params: list = []
    for c in contacts:
        params += [
            c.organization_id, c.name, c.phone, c.email, c.lifecycle_stage, c.opt_in, c.opt_in_source,
            c.opt_in_changed_at, selectors.lead_score(c, now=now, conversations=0).score,
            json.dumps(c.custom_fields), now, now,
        ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL.format(rows=", ".join([_INSERT_ROW] * len(contacts))), params)
        for contact, (pk,) in zip(contacts, cursor.fetchall(), strict=True):
            contact.pk = pk


def _link_tags(links: list) -> None:
    if not links:
        return
    table = Contact.tags.through._meta.db_table
    params = [value for link in links for value in (link.contact_id, link.tag_id)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (contact_id, tag_id) VALUES {', '.join(['(%s, %s)'] * len(links))}"
            " ON CONFLICT DO NOTHING",
            params,
        )


_UPDATE_SQL = """
UPDATE conversations_contact AS c
SET name = v.name, email = v.email, lifecycle_stage = v.lifecycle_stage, custom_fields = v.custom_fields,
    opt_in = v.opt_in, opt_in_source = v.opt_in_source, opt_in_changed_at = v.opt_in_changed_at, updated_at = v.updated_at
FROM (VALUES {rows}) AS v(id, name, email, lifecycle_stage, custom_fields, opt_in, opt_in_source, opt_in_changed_at, updated_at)
WHERE c.id = v.id
"""
_UPDATE_ROW = (
    "(%s::bigint, %s::varchar, %s::varchar, %s::varchar, %s::jsonb, %s::varchar, %s::varchar, %s::timestamptz,"
    " %s::timestamptz)"
)


def _update_rows(contacts: list[Contact]) -> None:
    """One ``UPDATE … FROM (VALUES …)`` per batch (``bulk_update``'s ``CASE WHEN`` per column costs the batch squared)."""
    if not contacts:
        return
    params: list = []
    for contact in contacts:
        params += [
            contact.pk,
            contact.name,
            contact.email,
            contact.lifecycle_stage,
            json.dumps(contact.custom_fields),
            contact.opt_in,
            contact.opt_in_source,
            contact.opt_in_changed_at,
            contact.updated_at,
        ]
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_SQL.format(rows=", ".join([_UPDATE_ROW] * len(contacts))), params)


def _consent_row(contact: Contact, value: str, contact_import: ContactImport) -> ConsentChange:
    return ConsentChange(
        organization_id=contact.organization_id,
        contact_id=contact.pk,
        kind=ConsentKind.MESSAGING,
        value=value,
        source=ConsentSource.IMPORT,
        by=contact_import.created_by,
        note=(_("Import of %(name)s") % {"name": contact_import.original_name})[:200],
    )
