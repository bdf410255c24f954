from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self):
        from django.urls import reverse
        from django.utils.translation import gettext_lazy

        from accounts import limits
        from conversations.models import Channel, Contact
        from notifications import links

        links.register(
            "conversation_id",
            lambda pk: f"{reverse('inbox:index')}?c={pk}",
            gettext_lazy("Open the conversation"),
        )
        limits.register_count("channels", lambda organization: Channel.objects.for_organization(organization).count())
        limits.register_count("contacts", lambda organization: Contact.objects.for_organization(organization).count())
