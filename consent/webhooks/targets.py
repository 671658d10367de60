"""Where a webhook may be sent: `https` targets on public addresses only, unless
`WEBHOOK_ALLOW_PRIVATE_TARGETS` (development and tests) also allows `http` and private,
loopback and link-local addresses.

The check runs when an endpoint is saved and again before every delivery run: the delivery
connects to the very address that passed the check (a DNS answer that changes between the check
and the connection — DNS rebinding — cannot redirect it to an internal host).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(Exception):
    """The URL is not a target webhooks may be sent to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as requested
    address: str  # the vetted IP address the delivery connects to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def target_resolve(url: str) -> Target:
    """The target of `url` with the address to connect to, or TargetRefused."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise TargetRefused("Only https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise TargetRefused("The URL names no host.")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not allow_private:
        private = [address for address in addresses if not _is_public(address)]
        if private:
            raise TargetRefused(
                f"{host} resolves to a private or local address ({private[0]}); "
                "webhooks go to public addresses only."
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc}).") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve.")
    return addresses
