from django.core.management.base import BaseCommand

from pytake.periodic import install_periodic_tasks


class Command(BaseCommand):
    help = "Create or update the periodic jobs declared in code in the Beat database."

    def handle(self, *args, **options):
        for name, created in install_periodic_tasks():
            self.stdout.write(f"{'created' if created else 'up to date'}: {name}")
