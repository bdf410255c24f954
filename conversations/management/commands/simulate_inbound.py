"""Post a signed WhatsApp webhook to a running PyTake, exactly as Meta's servers would."""

from __future__ import annotations

import json
import time
import uuid

import requests
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.models import Organization
from conversations import services
from conversations.channels import whatsapp
from conversations.models import Channel, ChannelKind, normalize_phone


class Command(BaseCommand):
    help = (
        "Simulate a customer's WhatsApp message: build the Graph API webhook JSON, sign it with the channel's "
        "app secret (X-Hub-Signature-256) and POST it to the server's /webhooks/whatsapp/<channel-id>/. "
        "A console channel gets the message directly, without HTTP."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug, e.g. acme.")
        parser.add_argument(
            "--phone", required=True, help="The customer's phone, international format, e.g. +5511987654321."
        )
        parser.add_argument("--text", required=True, help="The message text.")
        parser.add_argument("--name", default="", help="The customer's WhatsApp profile name.")
        parser.add_argument(
            "--channel",
            default="",
            help="Channel name or webhook id (default: the organization's first active WhatsApp channel).",
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Base URL of the running server (default: %(default)s)."
        )
        parser.add_argument(
            "--message-id",
            default="",
            help="Provider message id (default: a new wamid); repeat one to test deduplication.",
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds.")

    def handle(self, *args, org, phone, text, name, channel, url, message_id, timeout, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(
                f"Unknown organization “{org}”. Known: {', '.join(Organization.objects.values_list('slug', flat=True)) or 'none'}."
            )
        try:
            phone = normalize_phone(phone)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if not text.strip():
            raise CommandError("--text must not be empty.")
        target = self._channel(organization, channel)
        if target.kind == ChannelKind.CONSOLE:
            result = services.inbound_message_receive(
                channel=target, phone=phone, name=name, body=text, provider_message_id=message_id
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Stored message {result.message.pk} in conversation {result.message.conversation_id} (console channel, no HTTP)."
                )
            )
            return
        payload = whatsapp.text_notification(
            phone_number_id=target.phone_number_id,
            display_phone=target.display_phone,
            wa_id=whatsapp.wa_id(phone),
            name=name,
            body=text,
            message_id=message_id or f"wamid.sim-{uuid.uuid4().hex}",
            timestamp=int(time.time()),
        )
        body = json.dumps(payload).encode()
        endpoint = url.rstrip("/") + reverse("conversations:whatsapp-webhook", args=[target.public_id])
        self.stdout.write(f"POST {endpoint} ({len(body)} bytes, signed with {target.name}'s app secret)")
        try:
            response = requests.post(
                endpoint,
                data=body,
                timeout=timeout,
                headers={
                    "Content-Type": "application/json",
                    whatsapp.SIGNATURE_HEADER: whatsapp.signature_for(body, target.app_secret),
                },
            )
        except requests.ConnectionError:
            raise CommandError(
                f"Could not connect to {url}: is the server running (make run)? Use --url to point elsewhere."
            ) from None
        except requests.Timeout:
            raise CommandError(f"{url} did not answer within {timeout} s.") from None
        if response.status_code != 200:
            raise CommandError(f"The server answered {response.status_code}: {response.text[:500]}")
        self.stdout.write(self.style.SUCCESS(f"Accepted: {response.text}"))

    def _channel(self, organization, wanted: str) -> Channel:
        channels = Channel.objects.for_organization(organization).filter(is_active=True)
        if wanted:
            match = channels.filter(name__iexact=wanted).first()
            if match is None:
                try:
                    match = channels.filter(public_id=uuid.UUID(wanted)).first()
                except ValueError:
                    match = None
            if match is None:
                names = ", ".join(channels.values_list("name", flat=True)) or "none"
                raise CommandError(f"No active channel “{wanted}” in {organization.slug}. Active channels: {names}.")
            return match
        match = channels.filter(kind=ChannelKind.WHATSAPP).order_by("pk").first() or channels.order_by("pk").first()
        if match is None:
            raise CommandError(f"{organization.slug} has no active channel: add one in the admin or run seed_demo.")
        return match
