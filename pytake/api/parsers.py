"""JSON request bodies, refused (400) when they hold text PostgreSQL cannot store (NUL, lone surrogates)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from pytake.request_input import has_unstorable_text


def _unstorable(value) -> bool:
    if isinstance(value, str):
        return has_unstorable_text(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


class StorableJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _unstorable(data):
            raise exceptions.ParseError(_("The request contains a NUL character or an invalid character."))
        return data
