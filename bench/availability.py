#!/usr/bin/env python
"""Benchmark: a month of free slots for a provider with 2,000 appointments (target < 50 ms).

Standalone: creates a dedicated database (``pytake_bench_availability_<pid>``) on the server of
``DATABASE_URL`` — or on the embedded PostgreSQL when it is unset — migrates it, fills it,
measures, and drops it. Prints the median of several runs next to a baseline (the same month for
a provider with the same hours and no appointments) and their ratio. It also checks, on that
server, that the exclusion constraint refuses an overlapping row (PostgreSQL 15 on the machine,
16 embedded: no contrib extension involved).

    .venv/bin/python bench/availability.py [--runs 25] [--appointments 2000]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url
    from pytake import embedded

    return embedded.ensure_database_url()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin_conninfo(url: str) -> str:
    """A libpq URL for the maintenance database of the same server (psycopg wants postgresql://)."""
    parts = urlsplit(_with_database(url, "postgres"))
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60, help="measured runs of each case (default 60)")
    parser.add_argument(
        "--appointments", type=int, default=2000, help="appointments of the busy provider (default 2000)"
    )
    args = parser.parse_args()
    if args.runs < 3 or args.appointments < 1:
        parser.error("--runs must be at least 3 and --appointments at least 1")

    import psycopg

    server = _server_url()
    bench_db = f"pytake_bench_availability_{os.getpid()}"
    admin = _admin_conninfo(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f'CREATE DATABASE "{bench_db}"')
    print(
        f"PostgreSQL {version}; bench database {bench_db} ({'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'})"
    )
    os.environ["DATABASE_URL"] = _with_database(server, bench_db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    try:
        return _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        print(f"dropped {bench_db}")


def _run(args) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import IntegrityError, connection, transaction
    from django.test.utils import CaptureQueriesContext

    from accounts import services as account_services
    from conversations import services as contact_services
    from scheduling import availability, services
    from scheduling.models import Appointment

    print("migrating…", flush=True)
    call_command("migrate", verbosity=0)
    org = account_services.organization_create(
        name="Bench", slug="bench", plan="enterprise", time_zone="America/Sao_Paulo"
    )
    services.scheduling_settings_update(
        organization=org, minimum_notice_minutes=0, booking_horizon_days=730, slot_interval_minutes=15
    )
    windows = [(datetime.time(8), datetime.time(12)), (datetime.time(13), datetime.time(21))]
    members = []
    for email in ("busy@bench.test", "free@bench.test"):
        membership = account_services.member_add(
            organization=org, email=email, role="agent", password="bench-password-123"
        )
        for weekday in range(7):
            services.working_hours_set(provider=membership, weekday=weekday, windows=windows)
        members.append(membership)
    busy, free = members
    service = services.service_create(
        organization=org,
        name="Consulta",
        duration_minutes=30,
        price=100,
        buffer_after_minutes=10,
        providers=members,
    )
    contact, _ = contact_services.contact_get_or_create_by_phone(organization=org, phone="+5511999990000", name="Bench")

    tz = org.tzinfo
    month_start = datetime.date(2031, 3, 1)
    month_end = datetime.date(2031, 3, 31)
    # A 30-minute appointment every 90 minutes of the working windows (8 a day) from 60 days before the month.
    rows = []
    day = month_start - datetime.timedelta(days=60)
    while len(rows) < args.appointments:
        for window_start, window_end in windows:
            moment = datetime.datetime.combine(day, window_start, tzinfo=tz)
            limit = datetime.datetime.combine(day, window_end, tzinfo=tz)
            while moment + datetime.timedelta(minutes=30) <= limit and len(rows) < args.appointments:
                end = moment + datetime.timedelta(minutes=30)
                rows.append(
                    Appointment(
                        organization=org,
                        service=service,
                        provider_id=busy.user_id,
                        contact=contact,
                        customer_name="Bench",
                        customer_phone=contact.phone,
                        start=moment,
                        end=end,
                        occupied_from=moment,
                        occupied_until=end + datetime.timedelta(minutes=10),
                        status="confirmed",
                        price=100,
                        source="staff",
                    )
                )
                moment += datetime.timedelta(minutes=90)
        day += datetime.timedelta(days=1)
    Appointment.objects.bulk_create(rows, batch_size=500)
    in_month = Appointment.objects.filter(
        provider_id=busy.user_id,
        start__gte=datetime.datetime.combine(month_start, datetime.time(), tzinfo=tz),
        start__lt=datetime.datetime.combine(month_end + datetime.timedelta(days=1), datetime.time(), tzinfo=tz),
    ).count()
    print(
        f"{len(rows)} appointments for the busy provider ({in_month} in the measured month), 0 for the baseline provider"
    )

    first = rows[0]
    try:
        with transaction.atomic():
            Appointment.objects.create(
                organization=org,
                service=service,
                provider_id=busy.user_id,
                contact=contact,
                customer_name="Overlap",
                customer_phone=contact.phone,
                start=first.start + datetime.timedelta(minutes=15),
                end=first.end + datetime.timedelta(minutes=15),
                occupied_from=first.start + datetime.timedelta(minutes=15),
                occupied_until=first.end + datetime.timedelta(minutes=25),
            )
        print("exclusion constraint: DID NOT refuse an overlapping row")
        return 1
    except IntegrityError as error:
        assert "scheduling_appointment_no_overlap" in str(error)
        print("exclusion constraint: refuses an overlapping row ✓")

    now = datetime.datetime.combine(month_start - datetime.timedelta(days=1), datetime.time(), tzinfo=tz)

    def compute(provider):
        return availability.available_slots(
            organization=org,
            service=service,
            provider=provider,
            date_from=month_start,
            date_to=month_end,
            now=now,
        )

    # Warm up, then alternate the two cases so that machine load hits both alike.
    compute(busy), compute(free)
    timings = {busy.pk: [], free.pk: []}
    for _ in range(args.runs):
        for provider in (busy, free):
            started = time.perf_counter()
            compute(provider)
            timings[provider.pk].append((time.perf_counter() - started) * 1000)

    def summary(provider):
        with CaptureQueriesContext(connection) as queries:
            slots = compute(provider)
        values = timings[provider.pk]
        return statistics.median(values), min(values), max(values), len(slots), len(queries)

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            compute(busy)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)

    busy_median, busy_min, busy_max, busy_slots, busy_queries = summary(busy)
    base_median, base_min, base_max, base_slots, base_queries = summary(free)
    print(f"{'case':<34}{'median ms':>10}{'min':>8}{'max':>8}{'slots':>8}{'queries':>9}")
    print(
        f"{'baseline (0 appointments)':<34}{base_median:>10.2f}{base_min:>8.2f}{base_max:>8.2f}{base_slots:>8}{base_queries:>9}"
    )
    print(
        f"{f'busy ({len(rows)} appointments)':<34}{busy_median:>10.2f}{busy_min:>8.2f}{busy_max:>8.2f}{busy_slots:>8}{busy_queries:>9}"
    )
    print(
        f"ratio busy/baseline: {busy_median / base_median:.2f}×; target: busy median < 50 ms → {'PASS' if busy_median < 50 else 'FAIL'}"
    )
    return 0 if busy_median < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
