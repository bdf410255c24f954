"""Daily rollups: one row per organization × local day × metric × key × queue × agent × channel.

A narrow fact table rather than one column per figure: a new figure (bot sessions by outcome,
CSAT responses by score) is a new ``metric`` name with its listener, not a migration, and an app
above conversations (scheduling) writes its own metrics into the same table. Every row holds a
``count`` and a ``total`` (seconds for durations, cents for money); a duration histogram is one
row per bucket (``key`` = bucket index, see ``buckets.py``), so medians and percentiles come from
the bucket counts and means from the totals.

Dimensions are plain integers with ``0`` for "none" (no queue, no agent, no channel), so the
unique key has no NULLs and an upsert (``INSERT … ON CONFLICT DO UPDATE``) can increment it; they
are not foreign keys on purpose: a deleted queue or departed agent keeps its history.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization


class DailyRollup(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    day = models.DateField(_("day"), help_text=_("In the organization's time zone."))
    metric = models.CharField(_("metric"), max_length=40)
    key = models.CharField(_("key"), max_length=40, blank=True, default="")
    queue_id = models.IntegerField(_("queue"), default=0)
    agent_id = models.IntegerField(_("agent"), default=0)
    channel_id = models.IntegerField(_("channel"), default=0)
    count = models.BigIntegerField(_("count"), default=0)
    total = models.BigIntegerField(_("total"), default=0)

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "metric", "day", "key", "queue_id", "agent_id", "channel_id"],
                name="reports_rollup_cell",
            ),  # also the reports' index: one organization's few metrics over a day range
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day} {self.metric}:{self.key} = {self.count}/{self.total}"
