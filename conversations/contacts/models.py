"""Contact custom fields defined per organization, and CSV imports of contacts.

The contact itself lives in ``conversations.models.Contact`` (its ``custom_fields`` JSON holds the
values, keyed by ``CustomField.key``); saved filters are ``campaigns.Segment``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, User
from accounts.scoping import TenantManager

KEY_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]{0,39}$",
    _("Use 1 to 40 lowercase letters, digits or underscores, starting with a letter."),
    code="custom_field_key",
)


class CustomFieldKind(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")


class CustomField(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contact_fields", verbose_name=_("organization")
    )
    key = models.CharField(_("key"), max_length=40, validators=[KEY_VALIDATOR])
    label = models.CharField(_("label"), max_length=80)
    kind = models.CharField(_("type"), max_length=10, choices=CustomFieldKind.choices, default=CustomFieldKind.TEXT)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("For a choice field: the values an agent may pick.")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("contact custom field")
        verbose_name_plural = _("contact custom fields")
        ordering = ["position", "label"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="contacts_customfield_unique_key")]

    def __str__(self):
        return self.label

    def clean(self):
        super().clean()
        if self.kind == CustomFieldKind.CHOICE:
            if not isinstance(self.choices, list) or not [c for c in self.choices if str(c).strip()]:
                raise ValidationError({"choices": _("A choice field needs at least one choice.")})
            self.choices = list(dict.fromkeys(str(c).strip()[:80] for c in self.choices if str(c).strip()))
        else:
            self.choices = []


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Waiting for the column mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ContactImport(models.Model):
    """One CSV file imported into an organization's contacts: its mapping, progress and outcome.

    Its valid rows are written in one transaction (all or none); ``rejected`` lists the rows left
    out with their reason (the first ``REJECTED_KEPT``; ``rejected_count`` counts them all).
    """

    REJECTED_KEPT = 10_000

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contact_imports", verbose_name=_("organization")
    )
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("created by")
    )
    file = models.FileField(_("file"), upload_to="contact-imports/%Y/%m/", max_length=255, blank=True)
    original_name = models.CharField(_("file name"), max_length=255)
    header = models.JSONField(_("columns"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    default_region = models.CharField(_("default country"), max_length=2, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    rejected = models.JSONField(_("rejected rows"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.original_name

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)
