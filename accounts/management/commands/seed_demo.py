"""Demo data: two organizations with admins, agents, a viewer, departments and queues.

Idempotent: running it again updates the same rows instead of adding new ones. Later apps add
their own demo data with a ``seed_demo(stdout)`` function in their ``demo`` module.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import demo, demo_data
from accounts.models import Organization


class Command(BaseCommand):
    help = (
        f"Load the demo organizations, users (password: {demo_data.DEMO_PASSWORD}) and their data. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any organization exists already (used by `make run` on first start).",
        )

    def handle(self, *args, if_empty=False, **options):
        if if_empty and Organization.objects.exists():
            self.stdout.write("Organizations exist already; demo data not loaded (--if-empty).")
            return
        with transaction.atomic():
            for step in demo.seed_steps():
                label = step.__doc__.strip().splitlines()[0] if step.__doc__ else step.__name__
                self.stdout.write(f"· {label}")
                step(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(demo_data.logins_text())
