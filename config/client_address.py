"""The client's address, for the login lockout (django-axes) and the signup limit.

Without a proxy it is the connection's address. Behind TRUSTED_PROXY_COUNT proxies, each of them
appended the address it received the request from to X-Forwarded-For, so the client is the
entry that many places from the right; anything to the left of it was written by the client and
is not believed. https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Forwarded-For
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count == 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        # The request did not pass through every proxy configured: only the connection is known.
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # A proxy that writes something other than a bare address (a port, "unknown").
        return remote
