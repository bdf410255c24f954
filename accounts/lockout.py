"""django-axes hooks: failures count per (lower-cased email, client address)."""


def lockout_username(request, credentials) -> str | None:
    """``Agent@X`` and ``agent@x`` are one account: count their failures together."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    return username.strip().lower() if username else None
