"""The AI settings page (org admins), the inbox's AI actions (agents) and the AI part of the usage page.

The inbox actions answer with a stream of JSON lines (``application/x-ndjson``): ``{"text": …}``
pieces as the provider sends them, then ``{"done": true}`` or ``{"error": "…"}``. The page's
script reads it with ``fetch`` (same origin, so the strict CSP's ``connect-src 'self'`` allows it).
Under Daphne the stream is an async iterator that pulls the provider's pieces one by one from a
worker thread, so nothing is buffered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import ACTING_ROLES, Role
from accounts.tenancy import role_required
from conversations.assistant import calls, prompts, selectors, services
from conversations.assistant.forms import ProviderForm, SettingsForm
from conversations.assistant.models import Feature
from conversations.inbox import selectors as inbox_selectors

SETTINGS_TEMPLATE = "assistant/settings.html"


def _settings_context(request, form=None) -> dict:
    organization = request.organization
    row = selectors.settings_for(organization)
    used = selectors.tokens_used_this_month(organization=organization)
    return {
        "form": form or SettingsForm(instance=row),
        "settings_row": row,
        "providers": selectors.provider_list(organization=organization),
        "tokens_used": used,
        "by_feature": selectors.usage_by_feature(organization=organization),
        "recent": selectors.recent_calls(organization=organization, limit=10),
    }


@require_http_methods(["GET", "POST"])
@role_required(Role.ORG_ADMIN)
def settings_page(request):
    if request.method == "POST":
        form = SettingsForm(request.POST, instance=selectors.settings_for(request.organization))
        if form.is_valid():
            try:
                services.settings_update(organization=request.organization, by=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("AI settings saved."))
                return HttpResponseRedirect(reverse("assistant:settings"))
        return render(request, SETTINGS_TEMPLATE, _settings_context(request, form), status=422)
    return render(request, SETTINGS_TEMPLATE, _settings_context(request))


def _provider_or_404(request, provider_id):
    provider = selectors.provider_get(organization=request.organization, provider_id=provider_id)
    if provider is None:
        raise Http404("provider")
    return provider


@require_http_methods(["GET", "POST"])
@role_required(Role.ORG_ADMIN)
def provider_edit(request, provider_id: int | None = None):
    provider = _provider_or_404(request, provider_id) if provider_id is not None else None
    if provider is None and request.method == "GET":
        taken = [p.position for p in selectors.provider_list(organization=request.organization)]
        initial = {"position": max(taken, default=0) + 1}
    else:
        initial = None
    form = ProviderForm(request.POST or None, instance=provider, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if provider is None:
                services.provider_create(
                    organization=request.organization,
                    by=request.user,
                    api_key=form.cleaned_data["api_key"],
                    **form.provider_fields(),
                )
            else:
                services.provider_update(
                    provider=provider, by=request.user, api_key=form.cleaned_data["api_key"], **form.provider_fields()
                )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Provider saved. Use “Test connection” to check it."))
            return HttpResponseRedirect(reverse("assistant:settings"))
    status = 422 if request.method == "POST" else 200
    return render(request, "assistant/provider_form.html", {"form": form, "provider": provider}, status=status)


@require_POST
@role_required(Role.ORG_ADMIN)
def provider_delete(request, provider_id: int):
    provider = _provider_or_404(request, provider_id)
    services.provider_delete(provider=provider, by=request.user)
    messages.success(request, _("Provider removed."))
    return HttpResponseRedirect(reverse("assistant:settings"))


@require_POST
@role_required(Role.ORG_ADMIN)
def provider_test(request, provider_id: int):
    provider = _provider_or_404(request, provider_id)
    result = services.provider_test(provider=provider, by=request.user)
    if request.htmx:
        return render(request, f"{SETTINGS_TEMPLATE}#test-result", {"provider": provider, "result": result})
    (messages.success if result.ok else messages.error)(request, result.words)
    return HttpResponseRedirect(reverse("assistant:settings"))


@require_GET
@role_required(Role.ORG_ADMIN)
def usage_panel(request):
    """The AI rows of the organization's usage page (loaded there with ``hx-get``)."""
    organization = request.organization
    return render(
        request,
        "assistant/_usage.html",
        {
            "months": selectors.usage_by_month(organization=organization),
            "budget": selectors.settings_for(organization).monthly_token_budget,
            "tokens_used": selectors.tokens_used_this_month(organization=organization),
        },
    )


# --- The inbox ----------------------------------------------------------------------------------


def _acting_conversation(request, conversation_id: int):
    conversation = inbox_selectors.conversation_get_for_member(
        organization=request.organization, membership=request.membership, conversation_id=conversation_id, acting=True
    )
    if conversation is None:
        raise Http404("conversation")
    return conversation


@require_GET
@role_required(*ACTING_ROLES)
def inbox_bar(request, conversation_id: int):
    """The AI buttons of a conversation's composer; nothing (204) when the organization has no AI help."""
    conversation = _acting_conversation(request, conversation_id)
    if not selectors.is_available(organization=request.organization):
        return HttpResponse(status=204)
    return render(request, "assistant/_bar.html", {"conversation": conversation, "modes": REWRITE_LABELS})


REWRITE_LABELS = {
    "formal": _("More formal"),
    "shorter": _("Shorter"),
    "translate": _("Translate to the contact's language"),
}


def _lines(pieces) -> Iterator[bytes]:
    try:
        for piece in pieces:
            yield (json.dumps({"text": piece}) + "\n").encode()
    except calls.AssistantUnavailable as error:
        yield (json.dumps({"error": error.words}) + "\n").encode()
        return
    finally:
        pieces.close()  # a reader that left: the call is recorded now, in this thread
    yield b'{"done": true}\n'


async def _async_lines(lines: Iterator[bytes]):
    """Each line computed in a worker thread (the provider's SDK and the ORM are synchronous)."""
    done = object()
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (line := await pull(lines, done)) is not done:
            yield line
    finally:
        await sync_to_async(lines.close, thread_sensitive=True)()


@require_POST
@role_required(*ACTING_ROLES)
def inbox_assist(request, conversation_id: int, feature: str):
    conversation = _acting_conversation(request, conversation_id)
    organization = request.organization
    if not selectors.is_available(organization=organization):
        return JsonResponse({"error": _("AI help is turned off for this organization.")}, status=403)
    row = selectors.settings_for(organization)
    providers = selectors.provider_list(organization=organization, active_only=True)
    max_input = min(p.max_input_tokens for p in providers)
    options = {"conversation": conversation, "max_input_tokens": max_input, "redacting": row.redact_contact_data}
    if feature == "suggest":
        prompt, kind = prompts.suggest_reply(**options), Feature.SUGGEST
    elif feature == "summarize":
        prompt, kind = prompts.summarize(**options), Feature.SUMMARIZE
    elif feature == "rewrite":
        mode, draft = request.POST.get("mode", ""), request.POST.get("draft", "").strip()
        if mode not in prompts.REWRITE_MODES:
            return JsonResponse({"error": _("Choose how to rewrite: more formal, shorter or translated.")}, status=400)
        if not draft:
            return JsonResponse({"error": _("Write a draft first; the assistant rewrites it.")}, status=400)
        if len(draft) > 4096:
            return JsonResponse({"error": _("The draft is too long to rewrite (at most 4096 characters).")}, status=400)
        prompt, kind = prompts.rewrite(draft=draft, mode=mode, **options), Feature.REWRITE
    else:
        raise Http404("feature")
    try:
        calls.precheck(organization=organization)
    except calls.AssistantUnavailable as error:
        return JsonResponse({"error": error.words}, status=429 if error.code == "budget" else 409)
    lines = _lines(
        calls.stream(
            organization=organization,
            feature=kind,
            system=prompt.system,
            messages=prompt.messages,
            user=request.user,
            conversation_id=conversation.pk,
        )
    )
    content = _async_lines(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="application/x-ndjson; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
