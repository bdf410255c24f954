"""The agent inbox: one page (``/inbox/``) and the actions its forms post to.

``inbox`` renders the whole page, or for an HTMX request the partial its target names
(``#list``, ``#pane``, older or newer messages). Actions call ``conversations.services`` and
answer with the refreshed pane for HTMX, or redirect back to the page (forms work without
JavaScript). The URL carries the state: filters and the open conversation (``?c=``).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url, trigger_client_event

from accounts.models import Membership, Queue
from accounts.roles import ACTING_ROLES, ALL_ROLES
from accounts.tenancy import role_required
from conversations import attachments, services
from conversations import selectors as conversation_selectors
from conversations.contacts import panel as contact_panel
from conversations.inbox import presence, realtime, selectors, timeline
from conversations.models import Priority, Tag
from conversations.services.mentions import handle_for
from notifications import selectors as notification_selectors
from notifications.models import NotificationPreference
from scheduling import selectors as scheduling_selectors

TEMPLATE = "conversations/inbox/inbox.html"


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def inbox_url(filters: selectors.InboxFilters, conversation_id: int | None = None, **changes) -> str:
    params = filters.as_query(**changes)
    if conversation_id:
        params["c"] = str(conversation_id)
    query = urlencode(params)
    return reverse("inbox:index") + (f"?{query}" if query else "")


def _count_label(count: int) -> int | str:
    """Counts stop at ``COUNT_CAP`` (their cost must not grow with the organization): "1000+"."""
    return f"{selectors.COUNT_CAP}+" if count > selectors.COUNT_CAP else count


def _list_context(request, filters: selectors.InboxFilters) -> dict:
    organization, membership = request.organization, request.membership
    page = selectors.inbox_page(organization=organization, membership=membership, filters=filters)
    counts = {
        key: _count_label(value) if key != "queues" else {pk: _count_label(n) for pk, n in value.items()}
        for key, value in selectors.inbox_counts(organization=organization, membership=membership).items()
    }
    return {
        "filters": filters,
        "page": page,
        "queues": [
            (queue, counts["queues"].get(queue.pk, 0)) for queue in selectors.queue_choices(organization=organization)
        ],
        "departments": selectors.department_choices(organization=organization),
        "priorities": Priority.choices,
        "views": [
            ("all", pgettext("inbox filter", "All"), counts["all"]),
            ("mine", pgettext("inbox filter", "Mine"), counts["mine"]),
            ("unassigned", pgettext("inbox filter", "Unassigned"), counts["unassigned"]),
        ],
        "statuses": [
            ("active", pgettext("inbox filter", "Active"), counts["all"]),
            ("open", pgettext("inbox filter", "Open"), counts["open"]),
            ("pending", pgettext("inbox filter", "Pending"), counts["pending"]),
            ("snoozed", pgettext("inbox filter", "Snoozed"), counts["snoozed"]),
            ("closed", pgettext("inbox filter", "Closed"), None),
        ],
        "labels": selectors.label_choices(organization=organization),
        "can_act": selectors.can_act(membership),
        "bulk_agents": selectors.agent_choices(organization=organization) if selectors.can_act(membership) else [],
        "state_query": urlencode(filters.as_query()),
        "previous_url": inbox_url(filters, page=filters.page - 1) if page.has_previous else "",
        "next_url": inbox_url(filters, page=filters.page + 1) if page.has_next else "",
    }


def _pane_context(
    request, conversation, filters: selectors.InboxFilters, *, error: str = "", notice: str = "", draft: str = ""
) -> dict:
    organization, membership = request.organization, request.membership
    context = {
        "conversation": conversation,
        "draft": draft,
        "pane_error": error,
        "pane_notice": notice,
        "can_act": selectors.can_act(membership),
        "filters": filters,
        "state_query": urlencode(filters.as_query()),
    }
    if conversation is None:
        return context
    labels = selectors.labels_for_conversation(organization=organization, conversation=conversation)
    context.update(
        contact_panel.panel_context(
            organization=organization, contact=conversation.contact, can_edit=context["can_act"]
        ),
        conversation_labels=[label for label in labels if label.on],
        label_choices=[label for label in labels if not label.on],
        history=selectors.history(organization=organization, conversation=conversation),
        past=selectors.past_conversations(organization=organization, conversation=conversation),
        read_by=_read_by(organization.pk, conversation.pk, request.user.pk),
        appointments=scheduling_selectors.appointment_list_for_contact(
            organization=organization, contact=conversation.contact, limit=5
        ),
        priorities=Priority.choices,
        sla_timeline=timeline.sla_timeline(organization=organization, conversation=conversation, now=timezone.now()),
        csat=getattr(conversation, "csat", None),
        window=conversation_selectors.service_window(
            organization=organization,
            contact=conversation.contact,
            channel=conversation.channel,
            conversation=conversation,
        ),
    )
    if context["can_act"]:
        agents = selectors.agent_choices(organization=organization)
        context.update(
            attachment_accept=attachments.accept_attribute(),
            canned=selectors.canned_response_list(organization=organization),
            agents=agents,
            transfer_queues=selectors.queue_choices(organization=organization),
            # Teammates a note may mention (the composer's autocomplete).
            mention_members=[
                {"handle": handle_for(member.user.email), "name": member.user.get_full_name()}
                for member in agents
                if member.pk != getattr(membership, "pk", None)
            ],
        )
    return context


def _read_by(organization_id: int, conversation_id: int, user_id: int) -> list[int]:
    markers = presence.read_markers(organization_id=organization_id, conversation_id=conversation_id)
    return [{"user_id": user, "message_id": message} for user, message in markers.items() if user != user_id]


@require_GET
@role_required(*ALL_ROLES)
def inbox(request):
    filters = selectors.InboxFilters.from_query(request.GET)
    organization, membership = request.organization, request.membership
    conversation_id = request.GET.get("c")
    conversation = None
    error = ""
    if conversation_id:
        conversation = selectors.conversation_get_for_member(
            organization=organization, membership=membership, conversation_id=conversation_id
        )
        if conversation is None:
            error = _("This conversation does not exist or you may not see it.")
    status = 404 if error else 200
    htmx = request.htmx and not request.htmx.history_restore_request
    if htmx and conversation is not None and ("before" in request.GET or "after" in request.GET):
        before, after = _int(request.GET.get("before")), _int(request.GET.get("after"))
        page = selectors.history(
            organization=organization, conversation=conversation, before=before, after=after if before is None else None
        )
        partial = "history-older" if before is not None else "history-newer"
        return render(
            request,
            f"{TEMPLATE}#{partial}",
            {"conversation": conversation, "history": page, "can_act": selectors.can_act(membership)},
        )
    if htmx and request.htmx.target == "inbox-list":
        return render(request, f"{TEMPLATE}#list", _list_context(request, filters) | {"conversation": conversation})
    if htmx and request.htmx.target == "inbox-pane":
        return render(
            request, f"{TEMPLATE}#pane", _pane_context(request, conversation, filters, error=error), status=status
        )
    # Read before the page's queries: whatever commits after is replayed to the tab, nothing falls between.
    seq = realtime.current_sequence(organization.pk)
    context = _list_context(request, filters) | _pane_context(request, conversation, filters, error=error)
    context["realtime_seq"] = seq
    context["team"] = selectors.agent_choices(organization=organization)
    # No preference row yet: the defaults of a new one.
    context["signals"] = notification_selectors.preference_find(
        organization=organization, user=request.user
    ) or NotificationPreference(organization=organization, user=request.user)
    return render(request, TEMPLATE, context, status=status)


def _acting_conversation(request, conversation_id: int):
    conversation = selectors.conversation_get_for_member(
        organization=request.organization, membership=request.membership, conversation_id=conversation_id, acting=True
    )
    if conversation is None:
        raise Http404("conversation")
    return conversation


def _membership_choice(request, value) -> Membership:
    pk = _int(value)
    membership = next((m for m in selectors.agent_choices(organization=request.organization) if m.pk == pk), None)
    if membership is None:
        raise ValidationError(_("Choose an agent of this organization."))
    return membership


def _queue_choice(request, value) -> Queue | None:
    if not value:
        return None
    pk = _int(value)
    queue = next((q for q in selectors.queue_choices(organization=request.organization) if q.pk == pk), None)
    if queue is None:
        raise ValidationError(_("Choose an active queue of this organization."))
    return queue


ACTIONS = (
    "assign_me",
    "assign",
    "transfer",
    "close",
    "reopen",
    "pending",
    "priority",
    "snooze",
    "wake",
    "label_add",
    "label_remove",
)


def _label_choice(request, value) -> Tag:
    pk = _int(value)
    tag = Tag.objects.for_organization(request.organization).filter(pk=pk).first() if pk else None
    if tag is None:
        raise ValidationError(_("Choose a label of this organization."))
    return tag


def _run_action(request, conversation, action: str) -> str:
    """Apply ``action``; return the notice to show. Raises ``ValidationError`` with the reason."""
    post, user = request.POST, request.user
    if action == "assign_me":
        services.conversation_assign(conversation=conversation, membership=request.membership, by=user)
        return _("Assigned to you.")
    if action == "assign":
        target = _membership_choice(request, post.get("agent"))
        services.conversation_assign(conversation=conversation, membership=target, by=user)
        return _("Assigned to %(name)s.") % {"name": target.user.get_full_name()}
    if action == "transfer":
        to_queue = _queue_choice(request, post.get("queue"))
        to_agent = _membership_choice(request, post.get("agent")) if post.get("agent") else None
        services.conversation_transfer(
            conversation=conversation,
            by=user,
            to_queue=to_queue,
            to_membership=to_agent,
            reason=post.get("reason", ""),
            summary=post.get("summary", ""),
        )
        return _("Transferred.")
    if action == "close":
        services.conversation_close(conversation=conversation, by=user)
        return _("Conversation closed.")
    if action == "reopen":
        services.conversation_reopen(conversation=conversation, by=user)
        return _("Conversation reopened.")
    if action == "pending":
        services.conversation_set_pending(conversation=conversation)
        return _("Waiting on the customer.")
    if action == "priority":
        services.conversation_set_priority(conversation=conversation, priority=post.get("priority", ""), by=user)
        return _("Priority changed.")
    if action == "snooze":
        until = snooze_until(post, request.organization)
        services.conversation_snooze(conversation=conversation, by=user, until=until)
        return _("Snoozed until the customer replies.") if until is None else _("Snoozed.")
    if action == "wake":
        services.conversation_wake(conversation=conversation, reason="agent", by=user)
        return _("Back in the list.")
    if action == "label_add":
        services.conversation_label_add(
            conversation=conversation, tag=_label_choice(request, post.get("label")), by=user
        )
        return _("Label added.")
    if action == "label_remove":
        services.conversation_label_remove(
            conversation=conversation, tag=_label_choice(request, post.get("label")), by=user
        )
        return _("Label removed.")
    raise ValidationError(_("Unknown action."))


SNOOZE_PRESETS = {"1h": dt.timedelta(hours=1), "4h": dt.timedelta(hours=4), "1w": dt.timedelta(days=7)}


def snooze_until(post, organization) -> dt.datetime | None:
    """The wake time a snooze form asks for: a preset, "tomorrow" (9:00 in the organization's time
    zone), a date and time typed in the organization's time zone, or ``None`` (until the customer replies)."""
    choice = post.get("until", "")
    now = timezone.now()
    if choice == "reply":
        return None
    if choice in SNOOZE_PRESETS:
        return now + SNOOZE_PRESETS[choice]
    tz = organization.tzinfo
    if choice == "tomorrow":
        day = now.astimezone(tz).date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(9, 0), tzinfo=tz)
    if choice == "custom":
        value = parse_datetime(post.get("at", "") or "")
        if value is None:
            raise ValidationError(_("Enter the date and time to snooze until."))
        return value.replace(tzinfo=tz) if timezone.is_naive(value) else value
    raise ValidationError(_("Choose how long to snooze."))


def _state(request) -> selectors.InboxFilters:
    """The page state a form carried back (its hidden ``state`` field), parsed like the URL."""
    return selectors.InboxFilters.from_query(QueryDict(request.POST.get("state", "")[:1000]))


def _after_action(request, conversation, *, notice: str = "", error: str = "", draft: str = ""):
    """The pane after an action; a refused reply comes back in the reply box (``draft``), never lost."""
    filters = _state(request)
    if request.htmx:
        fresh = selectors.conversation_get_for_member(
            organization=request.organization, membership=request.membership, conversation_id=conversation.pk
        )
        response = render(
            request,
            f"{TEMPLATE}#pane",
            _pane_context(request, fresh, filters, notice=notice, error=error, draft=draft),
            status=422 if error else 200,
        )
        return trigger_client_event(response, "inbox:list-changed") if not error else response
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return HttpResponseRedirect(inbox_url(filters, conversation.pk))


@require_POST
@role_required(*ACTING_ROLES)
def act(request, conversation_id: int):
    conversation = _acting_conversation(request, conversation_id)
    try:
        notice = _run_action(request, conversation, request.POST.get("action", ""))
    except ValidationError as error:
        return _after_action(request, conversation, error=" ".join(error.messages))
    return _after_action(request, conversation, notice=notice)


@require_POST
@role_required(*ACTING_ROLES)
def reply(request, conversation_id: int):
    conversation = _acting_conversation(request, conversation_id)
    body = request.POST.get("body", "")
    try:
        if request.POST.get("note"):
            services.note_add(conversation=conversation, author=request.membership, body=body)
        else:
            services.message_send(
                conversation=conversation,
                author=request.membership,
                body=body,
                attachment=request.FILES.get("attachment"),
            )
    except ValidationError as error:
        return _after_action(request, conversation, error=" ".join(error.messages), draft=body)
    return _after_action(request, conversation)


@require_POST
@role_required(*ACTING_ROLES)
def pull_next(request):
    filters = _state(request)
    conversation = None
    if request.membership is not None:
        try:
            conversation = services.conversation_pull_next(membership=request.membership)
        except ValidationError:
            conversation = None
    if conversation is None:
        notice = _("No conversation is waiting in your queues.")
        if request.htmx:
            return render(request, f"{TEMPLATE}#pane", _pane_context(request, None, filters, notice=notice))
        messages.info(request, notice)
        return HttpResponseRedirect(inbox_url(filters))
    if request.htmx:
        fresh = selectors.conversation_get_for_member(
            organization=request.organization, membership=request.membership, conversation_id=conversation.pk
        )
        response = render(
            request, f"{TEMPLATE}#pane", _pane_context(request, fresh, filters, notice=_("Assigned to you."))
        )
        return trigger_client_event(push_url(response, inbox_url(filters, conversation.pk)), "inbox:list-changed")
    return HttpResponseRedirect(inbox_url(filters, conversation.pk))


@require_GET
@role_required(*ALL_ROLES)
def events(request):
    """The polling fallback of a tab whose websocket cannot connect: the events after ``since``.

    Answers ``{"seq": N, "events": [...]}`` with the frames the websocket would have sent, or
    ``{"seq": N, "resync": true}`` when the stream no longer holds them (reload the partials).
    """
    since = _int(request.GET.get("since")) or 0
    if not 0 <= since < 2**63:  # a Redis stream id is a 64-bit number
        return JsonResponse({"error": _("“since” must be a sequence number the inbox gave.")}, status=400)
    languages = [code for code, _name in settings.LANGUAGES]
    language = request.GET.get("lang", "").lower()
    language = language if language in languages else (request.LANGUAGE_CODE or settings.LANGUAGE_CODE).lower()
    viewer = selectors.realtime_viewer(organization=request.organization, user=request.user)
    if viewer is None:
        raise Http404
    entries, current = realtime.replay_sync(request.organization.pk, since)
    if entries is None:
        return JsonResponse({"seq": current, "resync": True})
    superseded = realtime.superseded_items(entries)
    frames = [
        entry.frame(language, with_item=entry.seq not in superseded) for entry in entries if entry.visible_to(viewer)
    ]
    return JsonResponse({"seq": max(current, since), "events": frames})


@require_POST
@role_required(*ACTING_ROLES)
def bulk(request):
    """One action over the conversations ticked in the list; answers with the refreshed list and a summary."""
    filters = _state(request)
    ids = [pk for pk in (_int(value) for value in request.POST.getlist("ids")) if pk]
    action = request.POST.get("action", "")
    try:
        agent = _membership_choice(request, request.POST.get("agent")) if request.POST.get("agent") else None
        queue = _queue_choice(request, request.POST.get("queue"))
        label = _label_choice(request, request.POST.get("label")) if request.POST.get("label") else None
        result = services.conversation_bulk_apply(
            organization=request.organization,
            membership=request.membership,
            conversation_ids=ids,
            action=action,
            agent=agent,
            queue=queue,
            priority=request.POST.get("priority", ""),
            label=label,
        )
    except ValidationError as error:
        notice, error_text, status = "", " ".join(error.messages), 422
    else:
        status, error_text = 200, ""
        notice = ngettext("%(n)d conversation done.", "%(n)d conversations done.", len(result.done)) % {
            "n": len(result.done)
        }
        refused = result.refused + [(pk, _("not found")) for pk in result.not_found]
        if refused:
            error_text = _("Not done: %(list)s") % {"list": "; ".join(f"#{pk}: {reason}" for pk, reason in refused)}
    if request.htmx:
        context = _list_context(request, filters) | {"bulk_notice": notice, "bulk_error": error_text}
        return render(request, f"{TEMPLATE}#list", context, status=status)
    if error_text:
        messages.error(request, error_text)
    if notice:
        messages.success(request, notice)
    return HttpResponseRedirect(inbox_url(filters))
