import logging
from functools import wraps

from anymail.exceptions import AnymailConfigurationError
from anymail.urls import urlpatterns as anymail_urlpatterns
from django.http import Http404, HttpResponseBadRequest
from django.urls import URLPattern, include, path

from notifications import views

app_name = "notifications"
logger = logging.getLogger(__name__)


def _guarded(view):
    """An ESP's tracking webhook: 404 while that ESP is not configured, 400 for a body it cannot parse.

    Anymail routes every ESP it knows and lets their configuration and parsing errors through (500s).
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except AnymailConfigurationError as error:
            logger.warning("email webhook %s called but not configured: %s", request.path, error)
            raise Http404 from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            logger.exception("email webhook %s: a body that could not be handled", request.path)
            return HttpResponseBadRequest("The body is not a tracking event of this email provider.")

    return wrapped


# Tracking only (delivery and bounce events); PyTake receives no email.
email_webhook_urlpatterns = [
    URLPattern(p.pattern, _guarded(p.callback), p.default_args, p.name)
    for p in anymail_urlpatterns
    if p.name.endswith("tracking_webhook")
]

urlpatterns = [
    path("settings/notifications/", views.preferences, name="preferences"),
    path("settings/notifications/test/", views.send_test, name="send_test"),
    path("notifications/", views.center, name="center"),
    path("notifications/<int:log_id>/read/", views.mark_read, name="mark_read"),
    path("notifications/read-all/", views.mark_all_read, name="mark_all_read"),
    path("webhooks/email/", include((email_webhook_urlpatterns, "anymail"))),
]
