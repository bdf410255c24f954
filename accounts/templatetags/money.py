"""``{{ price|money }}``: an amount in the current organization's currency, formatted for the active language
(``R$ 150,00`` in Portuguese, ``€150.00`` in English) by Babel's CLDR data."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency
from django import template
from django.utils.translation import get_language, to_locale

register = template.Library()


@register.simple_tag(takes_context=True)
def money(context, amount, currency: str | None = None) -> str:
    organization = context.get("current_organization") or context.get("organization")
    code = currency or getattr(organization, "currency", None) or "BRL"
    try:
        value = Decimal(str(amount if amount is not None else 0))
    except InvalidOperation:
        return str(amount)
    return format_currency(value, code, locale=to_locale(get_language() or "en"))
