"""Campaign pages: list, detail with live progress (HTMX polling), the create/edit wizard, actions, CSV.

Everyone in the organization reads; org admins (and agents the organization allows) create and act.
Live progress polls the ``progress`` partial every 3 s while the campaign runs: one cheap aggregate
query per tick, and no coupling to the inbox's websocket fan-out.
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.roles import ALL_ROLES
from accounts.tenancy import role_required
from conversations.campaigns import selectors, services
from conversations.campaigns.forms import (
    STEP_LABELS,
    STEPS,
    AudienceStepForm,
    ScheduleStepForm,
    TemplateStepForm,
    VariablesStepForm,
)
from conversations.campaigns.models import EDITABLE_STATUSES, AudienceType, CampaignStatus
from pytake.spreadsheet import formula_safe


def _may_manage(request) -> bool:
    return services.may_manage(organization=request.organization, user=request.user)


def _campaign_or_404(request, campaign_id: int):
    campaign = selectors.campaign_get(organization=request.organization, campaign_id=campaign_id)
    if campaign is None:
        raise Http404
    return campaign


@role_required(*ALL_ROLES)
def campaign_list(request):
    campaigns = list(selectors.campaign_list(organization=request.organization)[:200])
    progress = selectors.campaign_progress_many(campaigns=campaigns)
    rows = [(c, progress.get(c.pk)) for c in campaigns]
    return render(request, "campaigns/list.html", {"rows": rows, "may_manage": _may_manage(request)})


@role_required(*ALL_ROLES)
def campaign_detail(request, campaign_id: int):
    campaign = _campaign_or_404(request, campaign_id)
    status = request.GET.get("status", "")
    paginator = Paginator(selectors.recipient_list(campaign=campaign, status=status), 50)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "campaign": campaign,
        "metrics": selectors.campaign_metrics(campaign=campaign),
        "may_manage": _may_manage(request),
        "page": page,
        "recipients": _with_states(page.object_list),
        "status_filter": status,
        "filters": selectors.RECIPIENT_FILTERS,
        "live": campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED),
    }
    if request.htmx and request.htmx.target == "campaign-progress":
        return render(request, "campaigns/detail.html#progress", context)
    if request.htmx and request.htmx.target == "recipients":
        return render(request, "campaigns/detail.html#recipients", context)
    return render(request, "campaigns/detail.html", context)


def _with_states(rows):
    result = []
    for r in rows:
        state = selectors.recipient_state(r)
        result.append((r, state, selectors.STATE_LABELS.get(state, state)))
    return result


@role_required(*ALL_ROLES)
def campaign_recipients_csv(request, campaign_id: int):
    campaign = _campaign_or_404(request, campaign_id)
    rows = selectors.recipient_list(campaign=campaign, status=request.GET.get("status", ""))

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    header = [
        "position",
        "contact",
        "phone",
        "status",
        "reason",
        "sent_at",
        "delivered_at",
        "read_at",
        "replied_at",
        "error",
    ]

    def lines():
        yield writer.writerow(header)
        for r in rows.iterator(chunk_size=2000):
            log = r.log
            yield writer.writerow(
                [
                    r.position,
                    formula_safe(str(r.contact)),
                    r.phone,
                    selectors.recipient_state(r),
                    r.reason,
                    _iso(r.sent_at),
                    _iso(log.delivered_at if log else None),
                    _iso(log.read_at if log else None),
                    _iso(r.replied_at),
                    formula_safe((r.error or (log.error if log and log.status == "failed" else ""))[:500]),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-recipients.csv"'
    return response


def _iso(value) -> str:
    return value.isoformat() if value else ""


@role_required(*ALL_ROLES)
@require_POST
def campaign_act(request, campaign_id: int):
    campaign = _campaign_or_404(request, campaign_id)
    action = request.POST.get("action", "")
    actions = {
        "start": services.campaign_start,
        "pause": services.campaign_pause,
        "resume": services.campaign_resume,
        "cancel": services.campaign_cancel,
    }
    if action not in actions:
        messages.error(request, _("Unknown action."))
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    try:
        actions[action](campaign=campaign, by=request.user)
    except PermissionDenied:
        raise
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        done = {
            "start": _("Campaign started."),
            "pause": _("Campaign paused."),
            "resume": _("Campaign resumed."),
            "cancel": _("Campaign cancelled."),
        }
        messages.success(request, done[action])
    return redirect("campaigns:detail", campaign_id=campaign.pk)


# --- The wizard ----------------------------------------------------------------------------------


def _require_manager(request) -> None:
    if not _may_manage(request):
        raise PermissionDenied("campaigns")


def _wizard(request, campaign, step: str, form, **extra):
    context = {
        "campaign": campaign,
        "step": step,
        "steps": [(s, STEP_LABELS[s]) for s in STEPS],
        "step_index": STEPS.index(step),
        "form": form,
        **extra,
    }
    return render(request, "campaigns/wizard.html", context, status=400 if form is not None and form.errors else 200)


def _next(campaign, step: str):
    return redirect("campaigns:edit", campaign_id=campaign.pk, step=STEPS[STEPS.index(step) + 1])


@role_required(*ALL_ROLES)
def campaign_new(request):
    _require_manager(request)
    form = TemplateStepForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(organization=request.organization, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return _next(campaign, "template")
    return _wizard(request, None, "template", form)


@role_required(*ALL_ROLES)
def campaign_edit(request, campaign_id: int, step: str):
    _require_manager(request)
    campaign = _campaign_or_404(request, campaign_id)
    if step not in STEPS:
        raise Http404
    if campaign.status not in EDITABLE_STATUSES:
        messages.error(request, _("Only draft or scheduled campaigns can be edited."))
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    organization = request.organization
    data = request.POST if request.method == "POST" else None
    if step == "template":
        initial = {"name": campaign.name, "channel": campaign.channel_id, "template": campaign.template_id}
        form = TemplateStepForm(data, organization=organization, initial=initial)
        save = lambda: services.campaign_update(campaign=campaign, by=request.user, **form.cleaned_data)  # noqa: E731
    elif step == "variables":
        if campaign.template is None:
            return redirect("campaigns:edit", campaign_id=campaign.pk, step="template")
        form = VariablesStepForm(data, template=campaign.template, mapping=campaign.variable_mapping)
        save = lambda: services.campaign_update(campaign=campaign, by=request.user, variable_mapping=form.mapping())  # noqa: E731
    elif step == "audience":
        initial = {
            "audience_type": campaign.audience_type,
            "audience_tags": list(campaign.audience_tags.all()),
            "tag_match": campaign.tag_match,
            "segment": campaign.segment_id,
            "phones": "\n".join(campaign.audience_contacts.values_list("phone", flat=True)[:5000]),
        }
        form = AudienceStepForm(data, request.FILES or None, organization=organization, initial=initial)

        def save():
            cleaned = form.cleaned_data
            services.campaign_update(
                campaign=campaign,
                by=request.user,
                audience_type=cleaned["audience_type"],
                audience_tags=cleaned["audience_tags"],
                tag_match=cleaned["tag_match"] or "any",
                segment=cleaned["segment"],
            )
            if cleaned["audience_type"] == AudienceType.LIST:
                text = cleaned["phones"]
                if cleaned.get("csv_file"):
                    text = cleaned["csv_file"].read(2_000_000).decode("utf-8", errors="replace")
                found, unknown = services.campaign_contacts_from_csv(campaign=campaign, by=request.user, text=text)
                if unknown:
                    messages.warning(
                        request,
                        _("%(count)d numbers match no contact and were left out: %(sample)s")
                        % {"count": len(unknown), "sample": ", ".join(unknown[:5])},
                    )
    elif step == "schedule":
        tz = organization.tzinfo
        initial = {
            "scheduled_at": timezone.localtime(campaign.scheduled_at, tz).replace(tzinfo=None)
            if campaign.scheduled_at
            else None,
            "messages_per_minute": campaign.messages_per_minute,
            "delay_seconds": campaign.delay_seconds,
            "send_window_start": campaign.send_window_start,
            "send_window_end": campaign.send_window_end,
        }
        form = ScheduleStepForm(data, organization=organization, initial=initial)
        save = lambda: services.campaign_update(campaign=campaign, by=request.user, **form.cleaned_data)  # noqa: E731
    else:
        preview = selectors.campaign_preview(campaign=campaign)
        return _wizard(request, campaign, step, None, preview=preview, tz=organization.time_zone)
    if request.method == "POST" and form.is_valid():
        try:
            save()
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return _next(campaign, step)
    return _wizard(request, campaign, step, form)
