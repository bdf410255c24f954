"""Row builders of the campaigns app for the generic admin tenant-isolation tests."""

from __future__ import annotations

from decimal import Decimal

from accounts.roles import Role
from conversations.campaigns import services
from conversations.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignSettings,
    ChannelCampaignSettings,
    MessagePrice,
    Segment,
)
from conversations.models import Channel, ChannelKind
from tests import factories
from tests.campaigns import builders
from tests.conversations import factories as cf


def _whatsapp_channel(org, *, without_settings: bool = False):
    """A WhatsApp channel of ``org``, reused where possible: the admin tests build a row of every
    model in one organization, whose plan allows only a few channels."""
    channels = Channel.objects.filter(organization=org, kind=ChannelKind.WHATSAPP)
    if without_settings:
        channels = channels.exclude(pk__in=ChannelCampaignSettings.objects.values("channel_id"))
    return channels.order_by("pk").first() or cf.channel(org)


def _campaign(org) -> Campaign:
    admin = factories.member(org, Role.ORG_ADMIN).user
    return builders.campaign(org, admin, channel=_whatsapp_channel(org))


def _recipient(org) -> CampaignRecipient:
    campaign = _campaign(org)
    contact = builders.consenting_contact(org)
    return CampaignRecipient.objects.create(
        organization=org, campaign=campaign, contact=contact, phone=contact.phone, position=1
    )


TENANT_ROW_BUILDERS = {
    CampaignSettings: lambda org: services.campaign_settings_update(organization=org),
    ChannelCampaignSettings: lambda org: ChannelCampaignSettings.objects.create(
        organization=org, channel=_whatsapp_channel(org, without_settings=True)
    ),
    MessagePrice: lambda org: MessagePrice.objects.create(
        organization=org, country_code="55", category="marketing", price=Decimal("0.0625")
    ),
    Segment: lambda org: services.segment_create(organization=org, name="VIPs", filters={}),
    Campaign: _campaign,
    CampaignRecipient: _recipient,
}
