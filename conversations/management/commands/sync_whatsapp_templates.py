"""Sync WhatsApp message templates from Meta's Graph API into PyTake (what Beat runs every hour)."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from conversations import services
from conversations.models import Channel, ChannelKind


class Command(BaseCommand):
    help = (
        "Sync the message templates of WhatsApp channels from Meta (GET /<waba-id>/message_templates, every page): "
        "new templates are added, changed ones updated, those Meta no longer lists marked disabled. "
        "Without options, every active WhatsApp channel with a business account id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", default="", help="Only this organization's channels (its slug, e.g. acme).")
        parser.add_argument("--channel", default="", help="Only this channel (its numeric id or webhook id).")

    def handle(self, *args, org="", channel="", **options):
        channels = Channel.objects.filter(kind=ChannelKind.WHATSAPP, is_active=True).select_related("organization")
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                known = ", ".join(Organization.objects.order_by("slug").values_list("slug", flat=True)) or "none"
                raise CommandError(f"Unknown organization “{org}”. Known: {known}.")
            channels = channels.filter(organization=organization)
        if channel:
            channels = self._one(channels, channel, org)
        else:
            channels = list(channels.order_by("organization__slug", "name"))
        if not channels:
            raise CommandError("No active WhatsApp channel to sync" + (f" in “{org}”." if org else "."))
        failures = 0
        for target in channels:
            label = f"{target.organization.slug} / {target.name} (#{target.pk})"
            if not target.business_account_id and not channel:
                self.stdout.write(f"Skipping {label}: no WhatsApp Business Account id set.")
                continue
            self.stdout.write(f"Syncing templates of {label}…")
            try:
                result = services.template_sync(channel=target)
            except ValidationError as error:
                failures += 1
                self.stderr.write(self.style.ERROR(f"  {label}: {' '.join(error.messages)}"))
                continue
            self.stdout.write(
                self.style.SUCCESS(
                    f"  created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
                    f"disabled (gone from Meta) {result.removed}"
                    + (f", skipped {result.skipped}" if result.skipped else "")
                )
            )
        if failures:
            raise CommandError(f"{failures} channel(s) could not be synced; see the errors above.")

    def _one(self, channels, value: str, org: str) -> list[Channel]:
        if value.isdigit():
            found = channels.filter(pk=int(value)).first()
        else:
            try:
                found = channels.filter(public_id=uuid.UUID(value)).first()
            except ValueError:
                raise CommandError(f"--channel must be a channel's numeric id or webhook id (got “{value}”).") from None
        if found is None:
            where = f" in “{org}”" if org else ""
            raise CommandError(f"No active WhatsApp channel with id “{value}”{where}.")
        return [found]
