from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = _("Scheduling")

    def ready(self):
        from django.urls import reverse
        from django.utils.translation import gettext_lazy

        from notifications import links

        links.register(
            "appointment_id",
            lambda pk: reverse("scheduling:appointment", args=[pk]),
            gettext_lazy("Open the appointment"),
        )
