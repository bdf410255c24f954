from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


def encryption_key_check(app_configs, **kwargs):
    from django.conf import settings

    if settings.ASSISTANT_ENCRYPTION_KEYS:
        return []
    return [
        checks.Warning(
            "ASSISTANT_ENCRYPTION_KEYS is not set: AI providers' API keys are encrypted with a key derived "
            "from SECRET_KEY.",
            hint="Set ASSISTANT_ENCRYPTION_KEYS to a Fernet key (Fernet.generate_key()); see manage.py ai_rotate_keys.",
            id="assistant.W001",
        )
    ]


class AssistantConfig(AppConfig):
    name = "conversations.assistant"
    label = "assistant"
    verbose_name = _("AI assistant")

    def ready(self):
        checks.register(encryption_key_check, checks.Tags.security, deploy=True)
