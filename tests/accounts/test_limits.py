"""Plan limits (one check, the organization row locked) and the monthly usage counters."""

from __future__ import annotations

import datetime
import threading
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts import limits, services
from accounts.models import OrganizationUsage
from accounts.roles import Role
from conversations import services as conversation_services
from conversations.models import Contact, Message
from scheduling import services as scheduling_services
from tests import factories
from tests.conversations import factories as cf
from tests.scheduling import factories as sf


def usage(org, month=None) -> dict:
    row = OrganizationUsage.objects.filter(organization=org, month=month or limits.month_of(org)).first()
    return {field: getattr(row, field) if row else 0 for field in limits.USAGE_FIELDS}


def free_org(name="Pequena"):
    return factories.organization(name=name, plan="free")


@pytest.mark.django_db
def test_users_channels_and_contacts_are_refused_over_the_plan_with_the_figures():
    org = free_org()
    for _ in range(3):
        factories.member(org)
    with pytest.raises(ValidationError) as refused:
        services.member_add(organization=org, email="fourth@x.test")
    assert refused.value.messages == [
        "The Free plan allows up to 3 users and Pequena already has 3. Upgrade the plan or remove a member first."
    ]
    assert refused.value.error_list[0].code == "plan_limit_users"

    cf.channel(org, kind="console")
    with pytest.raises(ValidationError) as refused:
        conversation_services.channel_create(organization=org, name="Second", kind="console")
    assert refused.value.messages == [
        "The Free plan allows up to 1 channels and Pequena already has 1. Upgrade the plan or remove a channel first."
    ]

    Contact.objects.bulk_create([Contact(organization=org, phone=f"+55119{n:08d}") for n in range(500)])
    with pytest.raises(ValidationError) as refused:
        conversation_services.contact_create(organization=org, name="One too many")
    assert refused.value.messages == [
        "The Free plan allows up to 500 contacts and Pequena has 500. Upgrade the plan or remove contacts first."
    ]
    # Unlimited plans never refuse.
    big = factories.organization(plan="enterprise")
    limits.plan_limit_check(organization=big, resource="users", adding=10_000)


@pytest.mark.django_db
def test_the_appointment_limit_reads_the_months_counter():
    org = free_org()
    sf.settings(org, minimum_notice_minutes=0)
    prov = sf.provider(org, windows=[(datetime.time(0), datetime.time(23, 45))])
    svc = sf.service(org, duration=15, providers=[prov])
    day = sf.future_day(3)
    sf.appointment(org, svc=svc, prov=prov, start=sf.at(org, day, 8))
    assert usage(org)["appointments_created"] == 1
    limits.usage_increment(organization=org, field="appointments_created", by=49)
    with pytest.raises(scheduling_services.PlanLimitReached) as refused:
        sf.appointment(org, svc=svc, prov=prov, start=sf.at(org, day, 9))
    assert "limit of 50 appointments this month" in refused.value.message
    assert usage(org)["appointments_created"] == 50


@pytest.mark.django_db
def test_replies_over_the_monthly_message_limit_are_refused_but_inbound_is_stored():
    org = free_org()
    agent = factories.member(org)
    channel = cf.channel(org, kind="console")
    inbound = conversation_services.inbound_message_receive(channel=channel, phone="+5511987650001", body="oi")
    conversation = inbound.message.conversation
    conversation_services.message_send(conversation=conversation, author=agent, body="first")
    assert usage(org)["messages_sent"] == 1
    limits.usage_increment(organization=org, field="messages_sent", by=999)
    with pytest.raises(ValidationError) as refused:
        conversation_services.message_send(conversation=conversation, author=agent, body="one too many")
    assert refused.value.messages == [
        "The Free plan allows 1000 messages a month and Pequena has sent 1000 this month. "
        "Upgrade the plan or wait until next month."
    ]
    assert refused.value.error_list[0].code == "plan_limit_messages"
    assert not Message.objects.filter(body="one too many").exists()
    assert usage(org)["messages_sent"] == 1000  # a refusal counts nothing
    # Internal notes are not messages to the customer: neither limited nor counted.
    conversation_services.note_add(conversation=conversation, author=agent, body="note")
    # The customer is never cut off: inbound keeps being stored and counted.
    again = conversation_services.inbound_message_receive(channel=channel, phone="+5511987650001", body="still there?")
    assert again.created
    assert usage(org) == {
        "messages_sent": 1000,
        "messages_received": 2,
        "contacts_created": 1,
        "appointments_created": 0,
    }


@pytest.mark.django_db
def test_counters_follow_what_happens_and_reschedules_are_not_new_bookings():
    org = factories.organization()
    agent = factories.member(org)
    channel = cf.channel(org, kind="console")
    result = conversation_services.inbound_message_receive(
        channel=channel, phone="+5511987650002", body="hi", provider_message_id="wamid.1"
    )
    conversation_services.inbound_message_receive(
        channel=channel, phone="+5511987650002", body="hi", provider_message_id="wamid.1"
    )  # a redelivery is not a second message
    conversation_services.message_send(conversation=result.message.conversation, author=agent, body="hello")
    conversation_services.contact_create(organization=org, name="Typed in")
    prov = sf.provider(org)
    svc = sf.service(org, providers=[prov])
    appointment = sf.appointment(org, svc=svc, prov=prov, start=sf.at(org, sf.future_day(5), 10))
    scheduling_services.appointment_reschedule(appointment=appointment, start=sf.at(org, sf.future_day(5), 14))
    assert usage(org) == {
        "messages_sent": 1,
        "messages_received": 1,
        "contacts_created": 3,  # the customer who wrote, the one typed in, the one who booked
        "appointments_created": 1,
    }


@pytest.mark.django_db
def test_the_month_is_the_organizations_calendar_month():
    org = factories.organization(time_zone="America/Sao_Paulo")
    # 02:30 UTC on 1 February is still 31 January in São Paulo (UTC-3).
    late_january = datetime.datetime(2026, 2, 1, 2, 30, tzinfo=zoneinfo.ZoneInfo("UTC"))
    assert limits.usage_increment(organization=org, field="messages_received", at=late_january) == 1
    assert limits.usage_increment(organization=org, field="messages_received", by=2, at=late_january) == 3
    assert usage(org, datetime.date(2026, 1, 1))["messages_received"] == 3
    assert usage(org, datetime.date(2026, 2, 1))["messages_received"] == 0
    months = limits.usage_months(organization=org, at=late_january)
    assert [row["month"] for row in months] == [datetime.date(2026, m, 1) for m in (1,)] + [
        datetime.date(2025, m, 1) for m in (12, 11, 10, 9, 8)
    ]
    assert months[0]["messages_received"] == 3 and months[1]["messages_received"] == 0
    with pytest.raises(ValueError):
        limits.usage_increment(organization=org, field="organization_id")


def _race(workers: list) -> tuple[list, list]:
    """Run each callable in its own thread and database connection, all released at once."""
    barrier = threading.Barrier(len(workers))
    done, refused, errors = [], [], []

    def run(work):
        try:
            barrier.wait()
            done.append(work())
        except ValidationError as error:
            refused.append(error)
        except scheduling_services.PlanLimitReached as error:
            refused.append(error)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return done, refused


@pytest.mark.django_db(transaction=True)
def test_two_transactions_cannot_both_take_the_last_user_channel_or_contact_slot():
    org = free_org()
    factories.member(org, Role.ORG_ADMIN)
    factories.member(org)
    done, refused = _race(
        [lambda n=n: services.member_add(organization=org, email=f"racer-{n}@x.test") for n in range(2)]
    )
    assert len(done) == 1 and len(refused) == 1
    assert "allows up to 3 users" in refused[0].messages[0]
    assert limits.current_figure(organization=org, resource="users") == 3

    done, refused = _race(
        [
            lambda n=n: conversation_services.channel_create(organization=org, name=f"C{n}", kind="console")
            for n in (1, 2)
        ]
    )
    assert len(done) == 1 and len(refused) == 1
    assert limits.current_figure(organization=org, resource="channels") == 1

    Contact.objects.bulk_create([Contact(organization=org, phone=f"+55119{n:08d}") for n in range(499)])
    done, refused = _race(
        [lambda n=n: conversation_services.contact_create(organization=org, name=f"Racer {n}") for n in (1, 2)]
    )
    assert len(done) == 1 and len(refused) == 1
    assert "allows up to 500 contacts" in refused[0].messages[0]
    assert limits.current_figure(organization=org, resource="contacts") == 500


@pytest.mark.django_db(transaction=True)
def test_two_transactions_cannot_both_send_the_last_message_of_the_month():
    org = free_org()
    agent = factories.member(org)
    conversations = [cf.conversation(org) for _ in range(2)]
    limits.usage_increment(organization=org, field="messages_sent", by=999)
    done, refused = _race(
        [
            lambda c=c: conversation_services.message_send(conversation=c, author=agent, body="last one")
            for c in conversations
        ]
    )
    assert len(done) == 1 and len(refused) == 1
    assert refused[0].error_list[0].code == "plan_limit_messages"
    assert usage(org)["messages_sent"] == 1000
    assert Message.objects.filter(organization=org, body="last one").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_transactions_cannot_both_book_the_last_appointment_of_the_month():
    org = free_org()
    sf.settings(org, minimum_notice_minutes=0)
    prov = sf.provider(org, windows=[(datetime.time(0), datetime.time(23, 45))])
    svc = sf.service(org, duration=15, providers=[prov])
    day = sf.future_day(3)
    limits.usage_increment(organization=org, field="appointments_created", by=49)
    done, refused = _race(
        [
            lambda hour=hour: sf.appointment(org, svc=svc, prov=prov, start=sf.at(org, day, hour), name=f"R{hour}")
            for hour in (10, 11)
        ]
    )
    assert len(done) == 1 and len(refused) == 1
    assert usage(org)["appointments_created"] == 50


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_lose_no_update():
    org = factories.organization()

    def work():
        for _ in range(25):
            limits.usage_increment(organization=org, field="messages_received")

    done, _refused = _race([work for _ in range(8)])
    assert len(done) == 8
    assert usage(org)["messages_received"] == 200


@pytest.mark.django_db
def test_the_refusals_are_translated():
    from django.utils import translation

    org = free_org()
    limits.usage_increment(organization=org, field="messages_sent", by=1000)
    cf.channel(org, kind="console")
    with translation.override("pt-br"):
        with pytest.raises(ValidationError) as messages:
            limits.plan_limit_check(organization=org, resource="messages")
        with pytest.raises(ValidationError) as channels:
            limits.plan_limit_check(organization=org, resource="channels")
    assert messages.value.messages == [
        "O plano Gratuito permite 1000 mensagens por mês e Pequena já enviou 1000 neste mês. "
        "Faça upgrade do plano ou aguarde o próximo mês."
    ]
    assert channels.value.messages[0].startswith("O plano Gratuito permite até 1 canais e Pequena já tem 1.")
