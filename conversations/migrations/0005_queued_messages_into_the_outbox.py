"""Queued outbound messages move into the one outbox: each gets its outbox row (the old delivery loop is gone)."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    NotificationLog = apps.get_model("notifications", "NotificationLog")
    now = timezone.now()
    queued = (
        Message.objects.filter(direction="outbound", delivery_status="queued", is_internal_note=False)
        .exclude(author_type="system")
        .select_related("conversation__contact")
    )
    rows = [
        NotificationLog(
            organization_id=m.organization_id,
            recipient_contact_id=m.conversation.contact_id,
            event_type="conversation_message",
            channel="whatsapp",
            recipient=m.conversation.contact.phone,
            message=m.body,
            status="pending",
            scheduled_at=now,
            max_retries=3,
            transport="conversations.message",
            payload={"message_id": m.pk},
            metadata={"conversation_id": m.conversation_id, "message_id": m.pk, "contact_id": m.conversation.contact_id},
            dedupe_key=f"message:{m.pk}",
        )
        for m in queued.iterator()
    ]
    NotificationLog.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_template_messages"),
        ("notifications", "0002_one_outbox_contacts_transports_leases"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
