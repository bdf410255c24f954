import logging

import pytest
from django.db import transaction

from pytake import events


@pytest.fixture
def recorder():
    received = []

    @events.listener("test.happened")
    def record(event):
        received.append(event)

    @events.listener("test.happened")
    def explode(event):
        raise RuntimeError("listener bug")

    yield received
    events._listeners["test.happened"].clear()


@pytest.mark.django_db(transaction=True)
def test_delivered_after_commit_once_and_failing_listener_is_logged(recorder, caplog):
    caplog.set_level(logging.ERROR, logger="pytake.events")
    with transaction.atomic():
        events.dispatch(events.Event("test.happened", organization_id=1, payload={"x": 1}))
        assert recorder == []  # not before the commit
    assert [e.payload for e in recorder] == [{"x": 1}]
    assert "listener bug" in caplog.text or "explode" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_emits_nothing(recorder):
    with pytest.raises(ValueError):
        with transaction.atomic():
            events.dispatch(events.Event("test.happened", organization_id=1))
            raise ValueError("rollback")
    assert recorder == []


@pytest.fixture
def outbox():
    from django.contrib.sessions.models import Session

    @events.listener("test.outbox", phase=events.IN_TRANSACTION)
    def write(event):
        Session.objects.create(session_key=event.payload["key"], session_data="x", expire_date="2100-01-01T00:00Z")

    @events.listener("test.outbox", phase=events.IN_TRANSACTION)
    def write_then_fail(event):
        Session.objects.create(
            session_key=event.payload["key"] + "-bad", session_data="x", expire_date="2100-01-01T00:00Z"
        )
        raise RuntimeError("listener bug")

    yield Session
    events._listeners["test.outbox"].clear()


@pytest.mark.django_db(transaction=True)
def test_in_transaction_listeners_commit_and_roll_back_with_the_action(outbox, caplog):
    with transaction.atomic():
        events.dispatch(events.Event("test.outbox", organization_id=1, payload={"key": "kept"}))
        # Written at dispatch, inside the action's transaction.
        assert outbox.objects.filter(session_key="kept").exists()
    assert outbox.objects.filter(session_key="kept").exists()
    # The failing listener's own writes were rolled back to its savepoint; the action committed.
    assert not outbox.objects.filter(session_key="kept-bad").exists()
    assert "listener bug" in caplog.text

    with pytest.raises(ValueError):
        with transaction.atomic():
            events.dispatch(events.Event("test.outbox", organization_id=1, payload={"key": "gone"}))
            raise ValueError("rollback")
    assert not outbox.objects.filter(session_key="gone").exists()


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError):
        events.listener("x", phase="later")
