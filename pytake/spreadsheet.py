"""CSV exports opened in spreadsheet apps: cells that would run as formulas are made plain text."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: str) -> str:
    """No spreadsheet formulas from user data (CSV injection): a leading ``'`` keeps it text."""
    return "'" + value if value[:1] in FORMULA_PREFIXES else value
