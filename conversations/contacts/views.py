"""The contacts page (``/contacts/``), a contact's page and panel, bulk actions, export and CSV import.

Everyone in the organization reads; agents and org admins change (viewers get 403 on every
write). Every contact, tag, segment, field and import is looked up through the organization: one
of another organization is a 404.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import ACTING_ROLES, ALL_ROLES
from accounts.tenancy import has_role, role_required
from conversations.campaigns import services as campaign_services
from conversations.contacts import imports, panel, selectors, services
from conversations.contacts.models import ImportStatus
from conversations.models import ConsentSource, LifecycleStage

LIST_TEMPLATE = "contacts/list.html"
PANEL_TEMPLATE = "contacts/_panel.html"
IMPORT_TEMPLATE = "contacts/import.html"


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _contact_or_404(request, contact_id: int):
    contact = selectors.contact_get(organization=request.organization, contact_id=contact_id)
    if contact is None:
        raise Http404("contact")
    return contact


def contacts_url(filters: selectors.ContactFilters, **changes) -> str:
    query = urlencode(filters.as_query(**changes))
    return reverse("contacts:list") + (f"?{query}" if query else "")


# --- The list ----------------------------------------------------------------------------------------


def _filters_from(request, data) -> tuple[selectors.ContactFilters, object]:
    segment = None
    if data.get("segment"):
        segment = selectors.segment_get(organization=request.organization, segment_id=data.get("segment"))
        if segment is None:
            raise Http404("segment")
        filters = selectors.ContactFilters.from_segment(segment.filters)
        filters.page = selectors.ContactFilters.from_query(data).page
        return filters, segment
    return selectors.ContactFilters.from_query(data), None


def _list_context(request, filters, segment=None, *, notice: str = "", error: str = "") -> dict:
    organization = request.organization
    page = selectors.contact_page(organization=organization, filters=filters)
    state = urlencode(filters.as_query(page=1))
    return {
        "filters": filters,
        "segment": segment,
        "page": page,
        "state_query": state,
        "tags": selectors.tag_list(organization=organization),
        "segments": selectors.segment_list(organization=organization),
        "fields": selectors.custom_field_list(organization=organization),
        "stages": LifecycleStage.choices,
        "consents": [
            ("opted_in", _("Opted in")),
            ("opted_out", _("Opted out")),
            ("unknown", _("Not asked")),
            ("marketing", _("Accepts marketing")),
            ("blocked", _("Blocked")),
        ],
        "can_edit": has_role(request, ACTING_ROLES),
        "previous_url": contacts_url(filters, page=filters.page - 1) if page.has_previous else "",
        "next_url": contacts_url(filters, page=filters.page + 1) if page.has_next else "",
        "export_url": reverse("contacts:export") + (f"?{state}" if state else ""),
        "list_notice": notice,
        "list_error": error,
        "imports": selectors.import_list(organization=organization, limit=3),
    }


@require_GET
@role_required(*ALL_ROLES)
def contact_list(request):
    filters, segment = _filters_from(request, request.GET)
    context = _list_context(request, filters, segment)
    if request.htmx and request.htmx.target == "contacts-list" and not request.htmx.history_restore_request:
        return render(request, f"{LIST_TEMPLATE}#list", context)
    return render(request, LIST_TEMPLATE, context)


class _Echo:
    def write(self, value):
        return value


def _safe(value: str) -> str:
    """No spreadsheet formulas from contact data (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _export(request, contacts) -> StreamingHttpResponse:
    fields = selectors.custom_field_list(organization=request.organization)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(
            ["name", "phone", "email", "tags", "lifecycle_stage", "opt_in", "blocked", "lead_score", "last_contact"]
            + [field.key for field in fields]
        )
        for contact in contacts.prefetch_related("tags").iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    _safe(contact.name),
                    contact.phone,  # E.164, validated: "+" is the number's, not a formula
                    _safe(contact.email),
                    _safe("; ".join(tag.name for tag in contact.tags.all())),
                    contact.lifecycle_stage,
                    contact.opt_in,
                    "yes" if contact.is_blocked else "no",
                    contact.lead_score,
                    contact.last_message_at.isoformat() if contact.last_message_at else "",
                ]
                + [_safe(str(contact.custom_fields.get(field.key, ""))) for field in fields]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contacts-{request.organization.slug}.csv"'
    return response


@require_GET
@role_required(*ALL_ROLES)
def contact_export(request):
    """The filtered set (every page) as CSV, streamed."""
    filters, _segment = _filters_from(request, request.GET)
    return _export(request, selectors.contact_queryset(organization=request.organization, filters=filters))


BULK_ACTIONS = ("tag", "untag", "opt_out", "export")


@require_POST
@role_required(*ACTING_ROLES)
def contact_bulk(request):
    """A bulk action on the ticked contacts, or on every contact the filters select (``scope=all``)."""
    state = QueryDict(request.POST.get("state", "")[:2000])
    filters, segment = _filters_from(request, state)
    contacts = selectors.contact_queryset(organization=request.organization, filters=filters)
    if request.POST.get("scope") != "all":
        ids = [int(pk) for pk in request.POST.getlist("ids") if pk.isdigit()][:10_000]
        if not ids:
            return _bulk_answer(request, filters, segment, error=_("Tick at least one contact, or choose all of them."))
        contacts = contacts.filter(pk__in=ids)
    action = request.POST.get("action", "")
    try:
        if action == "export":
            return _export(request, contacts)
        if action == "tag":
            count = services.contacts_bulk_tag(
                organization=request.organization, contacts=contacts, by=request.user, name=request.POST.get("tag", "")
            )
            notice = _("Tagged %(n)d contact(s).") % {"n": count}
        elif action == "untag":
            tag = selectors.tag_get(organization=request.organization, tag_id=request.POST.get("tag_id"))
            if tag is None:
                raise ValidationError(_("Choose the tag to remove."))
            count = services.contacts_bulk_untag(
                organization=request.organization, contacts=contacts, by=request.user, tag=tag
            )
            notice = _("Removed the tag from %(n)d contact(s).") % {"n": count}
        elif action == "opt_out":
            count = services.contacts_bulk_opt_out(
                organization=request.organization, contacts=contacts, by=request.user
            )
            notice = _("Opted out %(n)d contact(s).") % {"n": count}
        else:
            raise ValidationError(_("Choose an action."))
    except ValidationError as error:
        return _bulk_answer(request, filters, segment, error=_errors(error))
    return _bulk_answer(request, filters, segment, notice=notice)


def _bulk_answer(request, filters, segment, *, notice: str = "", error: str = ""):
    if request.htmx:
        context = _list_context(request, filters, segment, notice=notice, error=error)
        return render(request, f"{LIST_TEMPLATE}#list", context, status=422 if error else 200)
    (messages.error if error else messages.success)(request, error or notice)
    return HttpResponseRedirect(contacts_url(filters))


@require_POST
@role_required(*ACTING_ROLES)
def segment_save(request):
    state = QueryDict(request.POST.get("state", "")[:2000])
    filters, _segment = _filters_from(request, state)
    fields = {f.key: f for f in selectors.custom_field_list(organization=request.organization)}
    try:
        if not filters.active:
            raise ValidationError(_("Filter the list first: a segment saves the filters."))
        segment = campaign_services.segment_create(
            organization=request.organization,
            name=(request.POST.get("name") or "").strip(),
            filters=filters.as_segment(fields),
        )
    except ValidationError as error:
        text = _errors(error)
        if "name" in getattr(error, "error_dict", {}) or "__all__" in getattr(error, "error_dict", {}):
            text = _("Give the segment a name that no other segment of this organization has.")
        return _bulk_answer(request, filters, None, error=text)
    notice = _("Segment “%(name)s” saved; campaigns can use it as their audience.") % {"name": segment.name}
    if request.htmx:
        context = _list_context(request, filters, segment, notice=notice)
        return render(request, f"{LIST_TEMPLATE}#list", context)
    messages.success(request, notice)
    return HttpResponseRedirect(reverse("contacts:list") + f"?segment={segment.pk}")


# --- One contact: page and panel ---------------------------------------------------------------------


def panel_context(request, contact, **kwargs) -> dict:
    return panel.panel_context(
        organization=request.organization, contact=contact, can_edit=has_role(request, ACTING_ROLES), **kwargs
    )


@require_GET
@role_required(*ALL_ROLES)
def contact_detail(request, contact_id: int):
    contact = _contact_or_404(request, contact_id)
    if request.htmx and request.htmx.target == "contact-panel":
        return render(request, PANEL_TEMPLATE, panel_context(request, contact))
    context = panel_context(request, contact) | {
        "conversations": selectors.contact_conversations(organization=request.organization, contact=contact),
        "consent_history": selectors.consent_history(organization=request.organization, contact=contact, limit=20),
    }
    return render(request, "contacts/detail.html", context)


PANEL_ACTIONS = ("details", "tag_add", "tag_remove", "consent", "block", "unblock")


@require_POST
@role_required(*ACTING_ROLES)
def contact_edit(request, contact_id: int):
    contact = _contact_or_404(request, contact_id)
    post, user = request.POST, request.user
    action = post.get("action", "")
    errors: dict = {}
    notice = error = ""
    try:
        if action == "details":
            custom = {key[3:]: value for key, value in post.items() if key.startswith("cf-")}
            services.contact_edit(
                contact=contact,
                by=user,
                name=post.get("name", contact.name),
                email=post.get("email", contact.email),
                lifecycle_stage=post.get("lifecycle_stage", contact.lifecycle_stage),
                custom=custom,
            )
            notice = _("Contact saved.")
        elif action == "tag_add":
            tag = services.contact_tag_add(contact=contact, by=user, name=post.get("tag", ""))
            notice = _("Tagged “%(tag)s”.") % {"tag": tag.name}
        elif action == "tag_remove":
            tag = selectors.tag_get(organization=request.organization, tag_id=post.get("tag_id"))
            if tag is None:
                raise Http404("tag")
            services.contact_tag_remove(contact=contact, by=user, tag=tag)
            notice = _("Tag “%(tag)s” removed.") % {"tag": tag.name}
        elif action == "consent":
            services.contact_consent_set(
                contact=contact,
                by=user,
                opt_in=post.get("opt_in", ""),
                source=post.get("source", ConsentSource.AGENT),
                note=post.get("note", "")[:200],
            )
            notice = _("Consent saved.")
        elif action in ("block", "unblock"):
            services.contact_block_set(contact=contact, by=user, blocked=action == "block")
            notice = _("Contact blocked.") if action == "block" else _("Contact unblocked.")
        else:
            raise ValidationError(_("Unknown action."))
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            errors = {key: " ".join(str(m) for e in value for m in e.messages) for key, value in exc.error_dict.items()}
        error = _errors(exc)
    fresh = _contact_or_404(request, contact_id)
    if request.htmx:
        context = panel_context(
            request,
            fresh,
            notice=notice,
            error=error,
            errors=errors,
            draft=post if action == "details" and error else None,
        )
        return render(request, PANEL_TEMPLATE, context, status=422 if error else 200)
    (messages.error if error else messages.success)(request, error or notice)
    target = post.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if target and safe else fresh_url(fresh))


def fresh_url(contact) -> str:
    return reverse("contacts:detail", args=[contact.pk])


# --- Import ------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(*ACTING_ROLES)
def import_upload(request):
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a CSV file to upload.")
        else:
            try:
                contact_import = imports.import_upload(organization=request.organization, by=request.user, file=upload)
            except ValidationError as exc:
                error = _errors(exc)
            else:
                return HttpResponseRedirect(reverse("contacts:import", args=[contact_import.pk]))
    return render(
        request,
        IMPORT_TEMPLATE,
        {"upload_error": error, "imports": selectors.import_list(organization=request.organization)},
        status=422 if error else 200,
    )


def _import_or_404(request, import_id: int):
    contact_import = selectors.import_get(organization=request.organization, import_id=import_id)
    if contact_import is None:
        raise Http404("import")
    return contact_import


def _mapping_context(request, contact_import, mapping: dict, region: str, *, error: str = "", preview=None) -> dict:
    fields = selectors.custom_field_list(organization=request.organization)
    columns = [(index, name, mapping.get(str(index), "")) for index, name in enumerate(contact_import.header)]
    if preview is None and contact_import.status == ImportStatus.UPLOADED and "phone" in mapping.values():
        preview = imports.import_preview(contact_import=contact_import, mapping=mapping, default_region=region)
    return {
        "contact_import": contact_import,
        "columns": columns,
        "targets": imports.target_choices(fields),
        "regions": [(code, code or _("International (+country code)")) for code in imports.REGIONS],
        "region": region,
        "preview": preview or [],
        "mapping_error": error,
        "progress": imports.progress(contact_import),
    }


@require_http_methods(["GET", "POST"])
@role_required(*ACTING_ROLES)
def import_detail(request, import_id: int):
    """The mapping with its preview (``#mapping``, refreshed on each change), then the progress (``#progress``, polled)."""
    contact_import = _import_or_404(request, import_id)
    fields = selectors.custom_field_list(organization=request.organization)
    data = request.POST if request.method == "POST" else request.GET
    region = data.get("region", contact_import.default_region or "")
    region = region if region in imports.REGIONS else ""
    error = ""
    mapping = contact_import.mapping
    if contact_import.status == ImportStatus.UPLOADED and any(key.startswith("col-") for key in data):
        try:
            mapping = imports.mapping_clean(contact_import=contact_import, data=data, fields=fields)
        except ValidationError as exc:
            error = _errors(exc)
            mapping = {
                str(i): data.get(f"col-{i}", "") for i in range(len(contact_import.header)) if data.get(f"col-{i}")
            }
    if request.method == "POST" and not error:
        try:
            contact_import = imports.import_start(
                contact_import=contact_import, by=request.user, mapping=mapping, default_region=region
            )
        except ValidationError as exc:
            error = _errors(exc)
        else:
            if not request.htmx:
                return HttpResponseRedirect(reverse("contacts:import", args=[contact_import.pk]))
            contact_import.refresh_from_db()
    context = _mapping_context(request, contact_import, mapping, region, error=error, preview=[] if error else None)
    status = 422 if error else 200
    if request.htmx and request.htmx.target == "import-progress":
        return render(request, f"{IMPORT_TEMPLATE}#progress", context)
    if request.htmx and request.htmx.target == "import-body":
        return render(request, f"{IMPORT_TEMPLATE}#body", context, status=status)
    return render(request, IMPORT_TEMPLATE, context, status=status)


@require_GET
@role_required(*ACTING_ROLES)
def import_rejected_csv(request, import_id: int) -> HttpResponse:
    contact_import = _import_or_404(request, import_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{contact_import.pk}-rejected.csv"'
    writer = csv.writer(response)
    writer.writerow(["row", "phone", "reason"])
    for row in contact_import.rejected:
        writer.writerow([row.get("row"), _safe(str(row.get("phone", ""))), _safe(str(row.get("reason", "")))])
    return response
