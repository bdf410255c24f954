"""Refusing request input PostgreSQL cannot store, once for every HTTP view.

PostgreSQL text refuses the NUL character, so a ``%00`` in a path, a query string or a form
would reach the database as an error (a 500). Lone surrogates cannot arrive this way: Django
decodes query strings and forms with replacement characters. JSON bodies (the webhooks) and
websocket frames decode their own input and use ``clean_text`` / ``has_unstorable_text``.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.utils.translation import gettext as _

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class InputRefused(BadRequest):
    """A 400 whose message is meant for the person who sent the request (shown on the 400 page)."""


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def has_unstorable_text(value: str) -> bool:
    """True if ``value`` holds a NUL or a lone surrogate (neither can be stored or encoded as UTF-8)."""
    return "\x00" in value or any(_is_surrogate(c) for c in value)


def clean_text(value: str) -> str:
    """``value`` without NUL characters and lone surrogates: text as stored, for sources that must not be refused."""
    if not has_unstorable_text(value):
        return value
    return "".join(c for c in value if c != "\x00" and not _is_surrogate(c))


def _refuse_nul(pairs) -> None:
    for key, values in pairs:
        if "\x00" in key or any("\x00" in value for value in values if isinstance(value, str)):
            raise InputRefused(_("The request contains a NUL character, which is not allowed."))


class RequestInputMiddleware:
    """A 400 for NUL characters in the path, the query string or a submitted form.

    Forms are checked only for views that take part in CSRF protection: the exempt ones
    (webhooks) read their raw body themselves and check it where they parse it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "\x00" in request.path:
            raise InputRefused(_("The request contains a NUL character, which is not allowed."))
        _refuse_nul(request.GET.lists())
        if (
            request.method == "POST"
            and not getattr(view_func, "csrf_exempt", False)
            and request.content_type in FORM_CONTENT_TYPES
        ):
            _refuse_nul(request.POST.lists())
        return None
