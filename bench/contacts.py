"""Contacts: the /contacts/ list at up to 1,000,000 contacts (p50/p95) and a CSV import of 100,000 rows (rows/s).

    .venv/bin/python bench/contacts.py [--contacts 1000000] [--baseline 1000] [--requests 30] [--import-rows 100000]

Builds a dedicated database (``<DATABASE_URL name>_bench_contacts``, dropped and recreated each run),
fills one organization with ``--contacts`` contacts (``generate_series``; every 10th tagged) and a
baseline organization with ``--baseline``, then times the list through Django's test client (server
time only): the first page, a stage filter, a tag filter, a consent filter, name and phone searches,
and a deep page. Then imports a CSV of ``--import-rows`` rows (1 in 100 with a bad phone) into a fresh
organization and again (every row an update), next to a ``--baseline``-row import, with the task
run in process (``CELERY_TASK_ALWAYS_EAGER``). Prints the figures and the ratios to the baselines.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.inbox import bench_database_url, pct, recreate_database, timed  # noqa: E402

FILL_SQL = """
INSERT INTO conversations_contact
    (organization_id, name, phone, email, lifecycle_stage, opt_in, opt_in_source, marketing_opt_in, is_blocked,
     lead_score, custom_fields, created_at, updated_at, last_message_at)
SELECT %(org)s, 'Contact ' || n, '+55119' || lpad((%(offset)s + n)::text, 8, '0'), '',
       (ARRAY['lead', 'customer', 'qualified', 'subscriber'])[1 + n %% 4],
       (ARRAY['unknown', 'opted_in', 'opted_out'])[1 + n %% 3], '', false, false, n %% 100,
       jsonb_build_object('plan', (ARRAY['Basic', 'Gold'])[1 + n %% 2]), now(), now(), now() - (n %% 1000) * interval '1 hour'
FROM generate_series(1, %(count)s) AS n;

INSERT INTO conversations_contact_tags (contact_id, tag_id)
SELECT c.id, %(tag)s FROM conversations_contact c WHERE c.organization_id = %(org)s AND c.id %% 10 = 0;
"""


def fill(organization, tag, count: int, offset: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in filter(str.strip, FILL_SQL.split(";\n")):
            cursor.execute(statement, {"org": organization.pk, "tag": tag.pk, "count": count, "offset": offset})
        cursor.execute("VACUUM ANALYZE")


def csv_rows(count: int, offset: int) -> bytes:
    out = io.StringIO()
    out.write("nome,telefone,email,tags,plano\n")
    for n in range(count):
        phone = "12345" if n % 100 == 99 else f"+55 21 9{(offset + n) % 100_000_000:08d}"
        out.write(f"Cliente {n},{phone},c{n}@example.com,importado;lote,{'Gold' if n % 2 else 'Basic'}\n")
    return out.getvalue().encode()


def run_import(organization, user, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.contacts import imports

    start = time.perf_counter()
    contact_import = imports.import_upload(
        organization=organization, by=user, file=SimpleUploadedFile("bench.csv", content, content_type="text/csv")
    )
    mapping = {"0": "name", "1": "phone", "2": "email", "3": "tags", "4": "cf:plan"}
    imports.import_start(contact_import=contact_import, by=user, mapping=mapping, default_region="BR")  # eager: runs it
    contact_import.refresh_from_db()
    elapsed = time.perf_counter() - start
    if contact_import.status != "done":
        raise SystemExit(f"import {contact_import.pk} ended {contact_import.status}: {contact_import.error}")
    return contact_import, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--import-rows", type=int, default=100_000)
    args = parser.parse_args()
    if not (1 <= args.baseline <= args.contacts <= 1_000_000) or not (5 <= args.requests <= 500):
        parser.error("need 1 <= --baseline <= --contacts <= 1,000,000 and 5 <= --requests <= 500")
    if not (args.baseline <= args.import_rows <= 200_000):
        parser.error("need --baseline <= --import-rows <= 200,000")

    url, admin_url, name = bench_database_url("_bench_contacts")
    print(f"database {name}: recreating", flush=True)
    recreate_database(admin_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_KEY_PREFIX", "pytake-bench-contacts")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-contacts-")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts import services as account_services
    from conversations import services as conversation_services
    from conversations.contacts import services as contact_services

    setup_test_environment()
    call_command("migrate", verbosity=0)
    orgs = {}
    for label, count, offset in (("big", args.contacts, 0), ("baseline", args.baseline, args.contacts)):
        org = account_services.organization_create(name=f"Bench {label}", slug=f"bench-{label}", plan="enterprise")
        agent = account_services.member_add(organization=org, email=f"agent@{label}.bench", password="bench-password-1")
        tag = conversation_services.tag_create(organization=org, name="vip")
        contact_services.custom_field_create(
            organization=org, key="plan", label="Plan", kind="choice", choices=["Basic", "Gold"]
        )
        start = time.perf_counter()
        fill(org, tag, count, offset)
        print(f"{label}: {count:,} contacts written in {time.perf_counter() - start:.1f} s", flush=True)
        orgs[label] = (org, agent, tag)

    hx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "contacts-list"}
    pages = [
        ("full page", "/contacts/", {}),
        ("list partial", "/contacts/", hx),
        ("stage = customer", "/contacts/?stage=customer", hx),
        ("tag = vip", "/contacts/?tag={tag}", hx),
        ("consent = opted out", "/contacts/?consent=opted_out", hx),
        ("custom field plan = Gold", "/contacts/?field=plan&value=Gold", hx),
        ("search name 'contact 77'", "/contacts/?q=contact+77", hx),
        ("search phone end '0077'", "/contacts/?q=0077", hx),
        ("page 20", "/contacts/?page=20", hx),
    ]
    results = {}
    for label, (_org, agent, tag) in orgs.items():
        client = Client()
        client.force_login(agent.user, backend="django.contrib.auth.backends.ModelBackend")
        for page, path, headers in pages:
            results[(label, page)] = timed(client, path.format(tag=tag.pk), headers, args.requests)

    print(
        f"\n/contacts/ server time, {args.requests} requests each (ms), {args.contacts:,} vs {args.baseline:,} contacts"
    )
    print(f"{'page':28} {'p50':>8} {'p95':>8}   {'baseline p50':>12} {'p95':>8}   {'ratio p50':>9} {'p95':>6}")
    for page, _path, _headers in pages:
        big, base = results[("big", page)], results[("baseline", page)]
        print(
            f"{page:28} {statistics.median(big):8.1f} {pct(big, 0.95):8.1f}   {statistics.median(base):12.1f}"
            f" {pct(base, 0.95):8.1f}   {statistics.median(big) / statistics.median(base):9.2f}"
            f" {pct(big, 0.95) / pct(base, 0.95):6.2f}"
        )

    importer = account_services.organization_create(name="Bench import", slug="bench-import", plan="enterprise")
    person = account_services.member_add(organization=importer, email="agent@import.bench", password="bench-pass-12")
    contact_services.custom_field_create(
        organization=importer, key="plan", label="Plan", kind="choice", choices=["Basic", "Gold"]
    )
    print("\nCSV import (upload, validate every row, write in one transaction)")
    figures = {}
    for label, rows, offset in (
        ("baseline", args.baseline, 50_000_000),
        ("new rows", args.import_rows, 0),
        ("same rows again (updates)", args.import_rows, 0),
    ):
        done, elapsed = run_import(importer, person.user, csv_rows(rows, offset))
        figures[label] = rows / elapsed
        print(
            f"{label:28} {rows:>8,} rows in {elapsed:6.2f} s = {rows / elapsed:9,.0f} rows/s"
            f"  (created {done.created_count:,}, updated {done.updated_count:,}, rejected {done.rejected_count:,})",
            flush=True,
        )
    print(
        f"ratio to the {args.baseline:,}-row baseline: new {figures['new rows'] / figures['baseline']:.2f},"
        f" updates {figures['same rows again (updates)'] / figures['baseline']:.2f}"
    )


if __name__ == "__main__":
    main()
