"""50 customers post the same slot at once over real HTTP: one booking, 49 clear refusals, no 500."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.staticfiles.handlers import StaticFilesHandler as _StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from django.urls import reverse

from scheduling.models import Appointment
from tests import factories as base
from tests.scheduling import factories

PARALLEL = 50


class _WideBacklogServer(ThreadedWSGIServer):
    # socketserver's default listen backlog (5) resets most of 50 simultaneous connections
    # before Django sees them; a production server (Daphne, gunicorn) listens with 100+.
    request_queue_size = 128


class _LiveServerThread(LiveServerThread):
    server_class = _WideBacklogServer


@pytest.fixture
def wide_live_server(transactional_db):
    """Django's live server thread (threaded WSGI, one thread per request) with a production-like backlog."""
    thread = _LiveServerThread("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_bookings_of_one_slot(wide_live_server, settings):
    settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS = 0
    settings.SCHEDULING_BOOKING_RATE_LIMIT = 1000
    # Enterprise: no monthly limit, so nothing serializes the bookings before the database does.
    org = base.organization(slug="race", plan="enterprise", time_zone="America/Sao_Paulo")
    factories.settings(org, minimum_notice_minutes=0)
    prov = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[prov])
    start = factories.at(org, factories.future_day(4), 10)

    session = requests.Session()
    form_page = session.get(
        f"{wide_live_server}{reverse('scheduling:book', args=[org.slug])}",
        params={"service": svc.pk, "start": start.isoformat()},
    )
    assert form_page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.text).group(1)
    started = re.search(r'name="started" value="([^"]+)"', form_page.text).group(1)
    cookies = session.cookies.get_dict()
    url = f"{wide_live_server}{reverse('scheduling:book_confirm', args=[org.slug])}"
    barrier = threading.Barrier(PARALLEL)

    def post(i):
        data = {
            "csrfmiddlewaretoken": csrf,
            "service": svc.pk,
            "provider": "",
            "start": start.isoformat(),
            "name": f"Cliente {i}",
            "phone": f"+551198{i:07d}",
            "email": f"c{i}@example.com",
            "notes": "",
            "website": "",
            "started": started,
        }
        barrier.wait(timeout=30)
        response = requests.post(
            url, data=data, cookies=cookies, headers={"Referer": wide_live_server}, allow_redirects=False, timeout=60
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(post, range(PARALLEL)))

    statuses = sorted(status for status, _ in results)
    assert statuses.count(302) == 1, statuses
    refused = [text for status, text in results if status == 409]
    assert len(refused) == PARALLEL - 1, statuses
    assert all("no longer available" in text for text in refused)
    assert not any(status >= 500 for status in statuses)
    assert Appointment.objects.filter(organization=org).count() == 1
