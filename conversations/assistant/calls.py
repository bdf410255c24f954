"""``complete(...)`` and ``stream(...)``: one answer from the organization's providers, in order.

Each provider is tried in its ``position`` order; a failure (after the SDK's own retries, see
``client.py``) moves on to the next one. Every attempt is recorded as an ``AssistantCall`` in its
own short transaction, never around the network call. The month's token budget is checked before
the first attempt, and the answer's length is capped to what is left of it.

A streamed answer can only fall back before its first piece arrived: once text is on the agent's
screen, a failure ends the answer with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import Organization
from conversations.assistant import selectors
from conversations.assistant.client import ChatMessage, Completion, ProviderFailure, Usage, backend_for
from conversations.assistant.models import AssistantCall, AssistantProvider, Outcome

logger = logging.getLogger(__name__)


class AssistantUnavailable(Exception):
    """No answer: the budget is spent, no provider is set up, or every provider failed (``words`` says which)."""

    def __init__(self, words: str, *, code: str):
        super().__init__(words)
        self.words = words
        self.code = code


def _ms(started: float) -> int:
    return max(0, int((time.monotonic() - started) * 1000))


def record_call(
    *,
    organization: Organization,
    provider: AssistantProvider,
    feature: str,
    outcome: str,
    usage: Usage,
    latency_ms: int,
    error: str = "",
    user=None,
    conversation_id: int | None = None,
) -> AssistantCall:
    return AssistantCall.objects.create(
        organization=organization,
        provider=provider,
        provider_kind=provider.kind,
        model=provider.model,
        feature=feature,
        outcome=outcome,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        latency_ms=latency_ms,
        cost=provider.cost_of(usage.tokens_in, usage.tokens_out),
        error=error[:500],
        user=user if getattr(user, "pk", None) else None,
        conversation_id=conversation_id,
    )


def _budget_left(organization: Organization) -> int | None:
    """Tokens left this month (``None``: no budget); refuses when nothing is left."""
    budget = selectors.settings_for(organization).monthly_token_budget
    if budget is None:
        return None
    used = selectors.tokens_used_this_month(organization=organization)
    if used >= budget:
        raise AssistantUnavailable(
            _(
                "This month's AI budget of %(budget)s tokens is used up (%(used)s used). "
                "An organization admin can raise it in the AI settings; it starts again next month."
            )
            % {"budget": f"{budget:,}", "used": f"{used:,}"},
            code="budget",
        )
    return budget - used


def _providers(organization: Organization, only: AssistantProvider | None) -> list[AssistantProvider]:
    if only is not None:
        if only.organization_id != organization.pk:
            raise ValidationError(_("This provider belongs to another organization."))
        return [only]
    providers = selectors.provider_list(organization=organization, active_only=True)
    if not providers:
        raise AssistantUnavailable(
            _("No AI provider is set up for this organization. An organization admin can add one in the AI settings."),
            code="no_provider",
        )
    return providers


def _all_failed(failures: list[str]) -> AssistantUnavailable:
    return AssistantUnavailable(
        _("No AI provider answered. %(reasons)s") % {"reasons": " ".join(failures)}, code="providers_failed"
    )


def _max_tokens(provider: AssistantProvider, left: int | None, wanted: int | None) -> int:
    cap = min(provider.max_output_tokens, wanted or provider.max_output_tokens)
    return max(1, min(cap, left)) if left is not None else cap


def complete(
    *,
    organization: Organization,
    feature: str,
    system: str,
    messages: list[ChatMessage],
    max_tokens: int | None = None,
    user=None,
    conversation_id: int | None = None,
    provider: AssistantProvider | None = None,
    check_budget: bool = True,
) -> tuple[Completion, AssistantProvider]:
    """The first provider's answer that succeeds, and that provider. Raises ``AssistantUnavailable``."""
    left = _budget_left(organization) if check_budget else None
    failures = []
    for candidate in _providers(organization, provider):
        started = time.monotonic()
        try:
            answer = backend_for(candidate).complete(
                system=system, messages=messages, max_tokens=_max_tokens(candidate, left, max_tokens)
            )
        except ProviderFailure as failure:
            logger.warning(
                "assistant: %s/%s failed for organization %s (%s)",
                candidate.kind,
                candidate.model,
                organization.pk,
                failure.reason,
            )
            record_call(
                organization=organization,
                provider=candidate,
                feature=feature,
                outcome=failure.outcome,
                usage=Usage(),
                latency_ms=_ms(started),
                error=failure.words,
                user=user,
                conversation_id=conversation_id,
            )
            failures.append(failure.words)
            continue
        record_call(
            organization=organization,
            provider=candidate,
            feature=feature,
            outcome=Outcome.OK,
            usage=answer.usage,
            latency_ms=_ms(started),
            user=user,
            conversation_id=conversation_id,
        )
        return answer, candidate
    raise _all_failed(failures)


def stream(
    *,
    organization: Organization,
    feature: str,
    system: str,
    messages: list[ChatMessage],
    max_tokens: int | None = None,
    user=None,
    conversation_id: int | None = None,
) -> Iterator[str]:
    """The answer's pieces as they arrive. Raises ``AssistantUnavailable`` (before or during the answer).

    The budget and the providers are checked on the first ``next()``; a caller that wants to
    refuse before answering at all calls ``precheck`` first.
    """
    left = _budget_left(organization)
    failures = []
    for candidate in _providers(organization, None):
        started = time.monotonic()
        pieces = 0
        answer = None
        try:
            answer = backend_for(candidate).stream(
                system=system, messages=messages, max_tokens=_max_tokens(candidate, left, max_tokens)
            )
            for piece in answer:
                pieces += 1
                yield piece
        except ProviderFailure as failure:
            logger.warning(
                "assistant: %s/%s failed for organization %s (%s)",
                candidate.kind,
                candidate.model,
                organization.pk,
                failure.reason,
            )
            record_call(
                organization=organization,
                provider=candidate,
                feature=feature,
                outcome=failure.outcome,
                usage=answer.usage if answer is not None else Usage(),
                latency_ms=_ms(started),
                error=failure.words,
                user=user,
                conversation_id=conversation_id,
            )
            if pieces:
                raise AssistantUnavailable(
                    _("The answer stopped halfway. %(reason)s") % {"reason": failure.words}, code="interrupted"
                ) from None
            failures.append(failure.words)
            continue
        except GeneratorExit:
            record_call(
                organization=organization,
                provider=candidate,
                feature=feature,
                outcome=Outcome.ERROR,
                usage=answer.usage if answer is not None else Usage(),
                latency_ms=_ms(started),
                error="stopped by the reader",
                user=user,
                conversation_id=conversation_id,
            )
            raise
        record_call(
            organization=organization,
            provider=candidate,
            feature=feature,
            outcome=Outcome.OK,
            usage=answer.usage,
            latency_ms=_ms(started),
            user=user,
            conversation_id=conversation_id,
        )
        return
    raise _all_failed(failures)


def precheck(*, organization: Organization) -> None:
    """Refuse now (``AssistantUnavailable``) what ``stream`` would refuse before its first piece."""
    _budget_left(organization)
    _providers(organization, None)
