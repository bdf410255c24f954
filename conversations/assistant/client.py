"""The providers behind one small interface: ``backend_for(provider).complete(...)`` / ``.stream(...)``.

Both adapters use the providers' official SDKs (``openai``, ``anthropic``) with the provider's
timeout and ``ASSISTANT_MAX_RETRIES``: the SDKs retry 408/409/429/5xx and connection errors with
backoff, waiting what ``Retry-After`` (or ``retry-after-ms``) asks. What still fails is raised as
``ProviderFailure`` with the reason in words; fallback to the next provider is ``calls.py``'s job.

The API key is decrypted here, handed to the SDK and nowhere else: it is never logged, and any
provider error text is scrubbed of it before it is shown or stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import anthropic
import openai
from django.conf import settings
from django.utils.translation import gettext as _

from conversations.assistant import crypto
from conversations.assistant.models import AssistantProvider, Outcome, ProviderKind


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    content: str


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage


@dataclass
class Stream:
    """The text pieces of an answer as they arrive; ``usage`` is filled in when it is over."""

    chunks: Iterator[str]
    usage: Usage = field(default_factory=Usage)

    def __iter__(self):
        return self.chunks


class ProviderFailure(Exception):
    """A provider did not answer: ``outcome`` (error or timeout), ``reason`` (a short code), ``words``."""

    def __init__(self, words: str, *, reason: str, outcome: str = Outcome.ERROR):
        super().__init__(words)
        self.words = words
        self.reason = reason
        self.outcome = outcome


def _scrub(text: str, secret: str) -> str:
    text = str(text or "")
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text[:300]


def _provider_message(error, secret: str) -> str:
    body = getattr(error, "body", None)
    message = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message", "") if isinstance(inner, dict) else str(inner)
    return _scrub(message or getattr(error, "message", "") or str(error), secret)


def _error_code(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or inner.get("type") or "")
    return ""


def translate_error(error: Exception, provider: AssistantProvider, secret: str) -> ProviderFailure:
    """The SDK's exception as a failure an org admin or agent can act on."""
    sdk = openai if provider.kind == ProviderKind.OPENAI else anthropic
    name = provider.get_kind_display()
    if isinstance(error, sdk.APITimeoutError):
        return ProviderFailure(
            _("%(provider)s did not answer within %(seconds)s seconds.")
            % {"provider": name, "seconds": f"{provider.timeout_seconds:g}"},
            reason="timeout",
            outcome=Outcome.TIMEOUT,
        )
    if isinstance(error, sdk.APIConnectionError):
        return ProviderFailure(
            _("%(provider)s could not be reached (%(url)s).")
            % {"provider": name, "url": provider.base_url or _("its public API")},
            reason="connection",
        )
    if isinstance(error, sdk.AuthenticationError):
        # The provider's text may quote part of the key: it is not repeated.
        return ProviderFailure(
            _("%(provider)s refused the API key: it is wrong, revoked or for another account.") % {"provider": name},
            reason="bad_key",
        )
    if isinstance(error, sdk.PermissionDeniedError):
        return ProviderFailure(
            _("%(provider)s says this API key may not use the model “%(model)s”.")
            % {"provider": name, "model": provider.model},
            reason="permission",
        )
    if isinstance(error, sdk.NotFoundError):
        return ProviderFailure(
            _("%(provider)s does not know the model “%(model)s” (or this key cannot see it).")
            % {"provider": name, "model": provider.model},
            reason="unknown_model",
        )
    if isinstance(error, sdk.RateLimitError):
        code = _error_code(error)
        if "quota" in code or "billing" in code or "credit" in _provider_message(error, secret).lower():
            return ProviderFailure(
                _("%(provider)s says the account has no quota or credit left: %(detail)s")
                % {"provider": name, "detail": _provider_message(error, secret)},
                reason="quota",
            )
        return ProviderFailure(
            _("%(provider)s is limiting the request rate and did not answer after retrying: %(detail)s")
            % {"provider": name, "detail": _provider_message(error, secret)},
            reason="rate_limited",
        )
    if isinstance(error, sdk.APIStatusError):
        status = error.status_code
        if status >= 500:
            return ProviderFailure(
                _("%(provider)s had an error (HTTP %(status)d) and did not recover after retrying: %(detail)s")
                % {"provider": name, "status": status, "detail": _provider_message(error, secret)},
                reason="server_error",
            )
        return ProviderFailure(
            _("%(provider)s refused the request (HTTP %(status)d): %(detail)s")
            % {"provider": name, "status": status, "detail": _provider_message(error, secret)},
            reason="bad_request",
        )
    if isinstance(error, (openai.OpenAIError, anthropic.AnthropicError)):
        return ProviderFailure(
            _("%(provider)s answered something unexpected: %(detail)s")
            % {"provider": name, "detail": _scrub(str(error), secret)},
            reason="unexpected",
        )
    raise error


class Backend:
    def __init__(self, provider: AssistantProvider):
        self.provider = provider
        self._secret = crypto.decrypt(provider.api_key_encrypted)

    def _failure(self, error: Exception) -> ProviderFailure:
        return translate_error(error, self.provider, self._secret)

    def complete(self, *, system: str, messages: list[ChatMessage], max_tokens: int) -> Completion:
        raise NotImplementedError

    def stream(self, *, system: str, messages: list[ChatMessage], max_tokens: int) -> Stream:
        raise NotImplementedError


class OpenAIBackend(Backend):
    def _client(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self._secret,
            base_url=self.provider.base_url or None,
            timeout=self.provider.timeout_seconds,
            max_retries=settings.ASSISTANT_MAX_RETRIES,
        )

    def _messages(self, system: str, messages: list[ChatMessage]) -> list[dict]:
        return [{"role": "system", "content": system}] + [{"role": m.role, "content": m.content} for m in messages]

    def complete(self, *, system, messages, max_tokens):
        try:
            with self._client() as client:
                response = client.chat.completions.create(
                    model=self.provider.model,
                    messages=self._messages(system, messages),
                    max_completion_tokens=max_tokens,
                )
        except openai.OpenAIError as error:
            raise self._failure(error) from None
        text = response.choices[0].message.content or "" if response.choices else ""
        usage = response.usage
        return Completion(
            text=text,
            usage=Usage(usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0),
        )

    def stream(self, *, system, messages, max_tokens):
        usage = Usage()

        def chunks():
            try:
                with self._client() as client:
                    events = client.chat.completions.create(
                        model=self.provider.model,
                        messages=self._messages(system, messages),
                        max_completion_tokens=max_tokens,
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    with events:
                        for chunk in events:
                            if chunk.usage is not None:
                                usage.tokens_in = chunk.usage.prompt_tokens or 0
                                usage.tokens_out = chunk.usage.completion_tokens or 0
                            for choice in chunk.choices or []:
                                if choice.delta and choice.delta.content:
                                    yield choice.delta.content
            except openai.OpenAIError as error:
                raise self._failure(error) from None

        return Stream(chunks=chunks(), usage=usage)


class AnthropicBackend(Backend):
    def _client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=self._secret,
            base_url=self.provider.base_url or None,
            timeout=self.provider.timeout_seconds,
            max_retries=settings.ASSISTANT_MAX_RETRIES,
        )

    def _messages(self, messages: list[ChatMessage]) -> list[dict]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def complete(self, *, system, messages, max_tokens):
        try:
            with self._client() as client:
                response = client.messages.create(
                    model=self.provider.model, system=system, messages=self._messages(messages), max_tokens=max_tokens
                )
        except anthropic.AnthropicError as error:
            raise self._failure(error) from None
        text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
        return Completion(text=text, usage=Usage(response.usage.input_tokens or 0, response.usage.output_tokens or 0))

    def stream(self, *, system, messages, max_tokens):
        usage = Usage()

        def chunks():
            try:
                with self._client() as client:
                    events = client.messages.create(
                        model=self.provider.model,
                        system=system,
                        messages=self._messages(messages),
                        max_tokens=max_tokens,
                        stream=True,
                    )
                    with events:
                        for event in events:
                            if event.type == "message_start":
                                usage.tokens_in = event.message.usage.input_tokens or 0
                                usage.tokens_out = event.message.usage.output_tokens or 0
                            elif event.type == "message_delta" and event.usage is not None:
                                usage.tokens_out = event.usage.output_tokens or usage.tokens_out
                            elif (
                                event.type == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta"
                            ):
                                yield event.delta.text
            except anthropic.AnthropicError as error:
                raise self._failure(error) from None

        return Stream(chunks=chunks(), usage=usage)


def backend_for(provider: AssistantProvider) -> Backend:
    try:
        if provider.kind == ProviderKind.OPENAI:
            return OpenAIBackend(provider)
        return AnthropicBackend(provider)
    except crypto.KeyUnreadable:
        raise ProviderFailure(
            _("The stored API key cannot be decrypted (the encryption key changed). Enter the API key again."),
            reason="key_unreadable",
        ) from None
