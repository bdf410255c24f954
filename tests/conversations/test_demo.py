from __future__ import annotations

import io

import pytest

from accounts.demo import seed_accounts
from conversations.demo import seed_demo
from conversations.models import Channel, Contact, Conversation, Message, Status

pytestmark = pytest.mark.django_db


def test_seed_demo_covers_every_status_and_is_idempotent():
    seed_accounts()
    out = io.StringIO()
    seed_demo(stdout=out)
    counts = (Channel.objects.count(), Contact.objects.count(), Conversation.objects.count(), Message.objects.count())
    assert counts[0] == 4 and counts[1] == 48 and counts[2] == 48
    assert counts[3] >= 300
    assert set(Conversation.objects.values_list("status", flat=True)) == set(Status.values)
    assert set(Conversation.objects.values_list("priority", flat=True)) == {"low", "medium", "high", "urgent"}
    assert Conversation.objects.filter(status=Status.OPEN, assignee__isnull=True).exists()
    assert Message.objects.filter(is_internal_note=True).exists()
    assert "/webhooks/whatsapp/" in out.getvalue()
    seed_accounts()
    seed_demo()
    assert (
        Channel.objects.count(),
        Contact.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    ) == counts
