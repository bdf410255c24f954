"""``manage.py ai_rotate_keys``: re-encrypt the AI providers' API keys under the newest encryption key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from conversations.assistant import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored AI provider API key with the first key of ASSISTANT_ENCRYPTION_KEYS. "
        "Put the new key first (keep the old one after it), restart, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        rotated, unreadable = services.keys_rotate()
        self.stdout.write(f"{rotated} API key(s) re-encrypted with the newest key.")
        if unreadable:
            raise CommandError(
                f"{unreadable} API key(s) could not be decrypted with any configured key: "
                "add the key they were encrypted with to ASSISTANT_ENCRYPTION_KEYS, or enter those keys again."
            )
