"""Which URLs a webhook may call: public addresses only, unless ``WEBHOOKS_ALLOW_PRIVATE_TARGETS``.

Checked when an endpoint is saved and again before every request (a name may resolve elsewhere
later). Loopback, private, link-local (cloud metadata), shared, reserved and multicast addresses
are refused, so an organization cannot make PyTake call into its own network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def target_refusal(url: str) -> str | None:
    """Why ``url`` may not be called, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return _("Use an http:// or https:// URL.")
    if not parts.hostname:
        return _("The URL has no host.")
    if parts.username or parts.password:
        return _("Put no credentials in the URL; verify the signature instead.")
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return _("The host %(host)s cannot be resolved.") % {"host": parts.hostname}
    if not found or not all(_is_public(info[4][0]) for info in found):
        return _(
            "The host %(host)s is a private, loopback or reserved address; webhooks go to public addresses only."
        ) % {"host": parts.hostname}
    return None
