"""What each inbox feature sends to a provider: the instructions and the conversation at hand.

Only the conversation being worked on is sent (its latest messages, as many as the providers'
input limit allows, oldest first) and, for a reply suggestion, the organization's canned
responses. With redaction on, phone numbers and email addresses are replaced before sending.
The instructions are in English; the answers come in the customer's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conversations.assistant.client import ChatMessage
from conversations.models import AuthorType, CannedResponse, Conversation, Message

HISTORY_MESSAGES = 60
CHARS_PER_TOKEN = 4

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of 8+ digits, possibly with a leading + and separators (spaces, dots, dashes, parentheses).
PHONE = re.compile(r"(?<![\w])\+?\(?\d(?:[\s().-]*\d){7,}")


def redact(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


@dataclass(frozen=True)
class Prompt:
    system: str
    messages: list[ChatMessage]


REWRITE_MODES = {
    "formal": "Rewrite the agent's draft to be more formal and polite, keeping its meaning and language.",
    "shorter": "Rewrite the agent's draft to be shorter and clearer, keeping its meaning and language.",
    "translate": (
        "Translate the agent's draft into the language the customer writes in (see the conversation); "
        "if the customer has not written yet, keep the draft's language."
    ),
}

ROLE_RULES = (
    "You help a customer-service agent of {org} who talks to customers over WhatsApp. "
    "Never invent facts (prices, dates, order details, policies) that are not in the conversation or the "
    "canned responses. Answer with the requested text only: no preamble, no quotes, no signature."
)


def _speaker(message: Message) -> str:
    if message.author_type == AuthorType.CONTACT:
        return "Customer"
    if message.author_type == AuthorType.SYSTEM:
        return "System"
    return "Agent (internal note)" if message.is_internal_note else "Agent"


def transcript(*, conversation: Conversation, max_chars: int, redacting: bool) -> str:
    """The latest messages that fit in ``max_chars``, oldest first, one line each."""
    rows = list(
        Message.objects.for_organization(conversation.organization)
        .filter(conversation=conversation)
        .exclude(body="")
        .order_by("-id")
        .values_list("author_type", "is_internal_note", "body")[:HISTORY_MESSAGES]
    )
    lines, used = [], 0
    for author_type, is_note, body in rows:
        speaker = _speaker(Message(author_type=author_type, is_internal_note=is_note))
        line = f"{speaker}: {' '.join(body.split())}"
        if redacting:
            line = redact(line)
        if used + len(line) > max_chars and lines:
            break
        lines.append(line[:max_chars])
        used += len(line) + 1
    return "\n".join(reversed(lines)) or "(no messages yet)"


def _canned(conversation: Conversation, max_chars: int, redacting: bool) -> str:
    items = CannedResponse.objects.for_organization(conversation.organization).order_by("shortcut")
    lines, used = [], 0
    for item in items.values_list("shortcut", "title", "body")[:50]:
        line = f"/{item[0]} ({item[1]}): {' '.join(item[2].split())}"
        if redacting:
            line = redact(line)
        if used + len(line) > max_chars:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) or "(none)"


def suggest_reply(*, conversation: Conversation, max_input_tokens: int, redacting: bool) -> Prompt:
    budget = max_input_tokens * CHARS_PER_TOKEN
    canned = _canned(conversation, budget // 4, redacting)
    history = transcript(conversation=conversation, max_chars=budget - len(canned) - 400, redacting=redacting)
    system = (
        ROLE_RULES.format(org=conversation.organization.name)
        + " Write the agent's next reply to the customer, in the customer's language, friendly and concise. "
        "When a canned response fits, base the reply on it."
    )
    user = f"Canned responses:\n{canned}\n\nConversation (oldest first):\n{history}\n\nWrite the agent's next reply."
    return Prompt(system=system, messages=[ChatMessage("user", user)])


def summarize(*, conversation: Conversation, max_input_tokens: int, redacting: bool) -> Prompt:
    history = transcript(
        conversation=conversation, max_chars=max_input_tokens * CHARS_PER_TOKEN - 400, redacting=redacting
    )
    system = (
        ROLE_RULES.format(org=conversation.organization.name)
        + " Summarize the conversation for the next agent who takes it over: what the customer wants, "
        "what was done or promised, and what is still open. At most 5 short lines, in the language the agents "
        "of the conversation write in."
    )
    return Prompt(system=system, messages=[ChatMessage("user", f"Conversation (oldest first):\n{history}")])


def rewrite(*, conversation: Conversation, draft: str, mode: str, max_input_tokens: int, redacting: bool) -> Prompt:
    budget = max_input_tokens * CHARS_PER_TOKEN
    draft = redact(draft) if redacting else draft
    history = transcript(conversation=conversation, max_chars=max(400, budget - len(draft) - 400), redacting=redacting)
    system = ROLE_RULES.format(org=conversation.organization.name) + " " + REWRITE_MODES[mode]
    user = f"Conversation (oldest first):\n{history}\n\nThe agent's draft:\n{draft}"
    return Prompt(system=system, messages=[ChatMessage("user", user)])
