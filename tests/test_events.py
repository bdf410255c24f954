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
