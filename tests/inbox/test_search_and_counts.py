"""Inbox search (full text in Portuguese and English, name prefixes, phone prefix and suffix) and capped counts."""

from __future__ import annotations

import pytest

from conversations import services
from tests.inbox.conftest import inbound
from tests.inbox.test_query_counts import LIST, bulk_conversations
from tests.inbox.test_views import hx

pytestmark = pytest.mark.django_db


def listed(client, q: str) -> str:
    return client.get("/inbox/", {"q": q}, **hx("inbox-list")).content.decode()


def test_search_finds_stems_in_both_languages_name_prefixes_and_phone_ends(desk, client_for):
    pedidos = inbound(desk, "Meus pedidos chegaram quebrados", phone="+5511987651234", name="Joana Prado").conversation
    invoices = inbound(desk, "The invoices were charged twice", phone="+5521912340000", name="Peter Hall").conversation
    client = client_for(desk.tenant.agent)

    def found(q):
        html = listed(client, q)
        return {c.pk for c in (pedidos, invoices) if f'data-conversation-id="{c.pk}"' in html}

    assert found("pedido") == {pedidos.pk}  # Portuguese stem of "pedidos"
    assert found("quebrado") == {pedidos.pk}
    assert found("invoice charge") == {invoices.pk}  # English stems, every word
    assert found("jo") == {pedidos.pk} and found("pet hal") == {invoices.pk}  # name words by prefix
    assert found("5511987") == {pedidos.pk} and found("+55 21 9123") == {invoices.pk}  # the phone's start
    assert found("1234") == {pedidos.pk} and found("340000") == {invoices.pk}  # and its end
    assert found("98765") == set()  # not a substring in the middle
    assert found("nada parecido") == set() and found("!!! & | :*") == set()


def test_search_stays_inside_the_organization(desk, tenant_b, client_for):
    from tests.conversations import factories as cf

    services.inbound_message_receive(
        channel=cf.channel(tenant_b.org), phone="+5511911112222", body="segredo de beta", name="Beta"
    )
    html = listed(client_for(desk.tenant.agent), "segredo")
    assert "Beta" not in html and "No conversation matches" in html


def test_counts_stop_at_the_cap(desk, client_for):
    bulk_conversations(desk, 1005)
    html = client_for(desk.tenant.agent).get("/inbox/", **LIST).content.decode()
    # 1005 active, about half the agent's: the total is capped, the agent's share is not.
    assert 'data-count="all">1000+<' in html
    assert 'data-count="mine">502<' in html
    assert "Support (1000+)" in html
