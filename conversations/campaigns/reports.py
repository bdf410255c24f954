"""Campaigns' part of the reports: the campaigns that ran in the period, with their send outcomes.

The figures are the campaigns' own metrics (``selectors.campaign_metrics``: recipient rows and the
delivery statuses of their outbox rows), read per campaign: a report period holds a handful of
campaigns, each answered by its indexed recipients, so no rollup is kept for them.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from conversations.campaigns.models import Campaign
from conversations.campaigns.selectors import campaign_metrics
from conversations.reports.rebuild import local_bounds
from conversations.reports.sections import PERCENT, TEXT, Chart, Column, Kpi, Report, Section, Table
from conversations.reports.selectors import ReportQuery

LIMIT = 50


def _campaigns(query: ReportQuery) -> list[Campaign]:
    start, end = local_bounds(query.organization.tzinfo, query.period.day_from, query.period.day_to)
    campaigns = Campaign.objects.filter(organization=query.organization, started_at__lt=end).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=start)
    )
    if query.channel_id:
        campaigns = campaigns.filter(channel_id=query.channel_id)
    return list(campaigns.order_by("-started_at", "-pk")[:LIMIT])


def campaigns(query: ReportQuery) -> Report:
    rows = []
    sums = {"sent": 0, "delivered": 0, "read": 0, "replied": 0, "failed": 0}
    for campaign in _campaigns(query):
        m = campaign_metrics(campaign=campaign)
        for key in sums:
            sums[key] += getattr(m, key)
        rows.append(
            [
                campaign.name,
                campaign.get_status_display(),
                m.to_send,
                m.sent,
                m.delivered,
                m.read,
                m.replied,
                m.failed,
                m.delivery_rate if m.sent else None,
                m.reply_rate if m.sent else None,
            ]
        )
    sent = sums["sent"]
    return Report(
        kpis=[
            Kpi(_("Messages sent by campaigns"), sent, None),
            Kpi(_("Delivered"), sums["delivered"], None),
            Kpi(_("Replies"), sums["replied"], None),
            Kpi(_("Reply rate"), sums["replied"] / sent * 100 if sent else None, None, PERCENT),
        ],
        tables=[
            Table(
                "campaigns",
                _("Campaigns in the period"),
                [
                    Column("campaign", _("Campaign"), TEXT),
                    Column("status", _("Status"), TEXT),
                    Column("audience", _("To send")),
                    Column("sent", _("Sent")),
                    Column("delivered", _("Delivered")),
                    Column("read", _("Read")),
                    Column("replied", _("Replied")),
                    Column("failed", _("Failed")),
                    Column("delivery_rate", _("Delivery rate"), PERCENT),
                    Column("reply_rate", _("Reply rate"), PERCENT),
                ],
                rows,
                Chart("bar", ("sent", "delivered", "read", "replied")),
            )
        ],
    )


SECTIONS = [Section("campaigns", _("Campaigns"), 80, campaigns, for_agents=False)]
