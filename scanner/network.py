"""Connections that go only where the address policy allows, checked at connect time.

Checking a host name and then letting the HTTP library resolve it again on
connect leaves a window (DNS rebinding): the second answer may be the worker's
own network. Here the name is resolved once per connection, every address of
the answer is checked, and the socket is opened to one of those very addresses.
The request keeps the name: the ``Host`` header, TLS SNI and certificate check
all use it, since only the TCP layer is pinned.

``checked_transport`` plugs this into httpx through httpcore's network-backend
hook, so the check also covers redirects, token realms and pooled reconnects:
every new TCP connection passes through ``connect_tcp``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from scanner.image import ImageError
from scanner.limits import ScanOptions, address_allowed

__all__ = ["AddressRefused", "CheckedBackend", "Resolver", "checked_transport", "system_resolver"]

# (host, port) -> the IP addresses to try, in order.
Resolver = Callable[[str, int], Sequence[str]]


class AddressRefused(ImageError):
    """A registry name resolves to an address the scanner may not connect to."""


def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for ``host`` (``getaddrinfo``), duplicates removed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ImageError(f"cannot resolve registry host {host!r}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, resolving and checking each host itself."""

    def __init__(self, resolver: Resolver, allowed_networks: tuple[str, ...]) -> None:
        self._resolver = resolver
        self._allowed = allowed_networks

    def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses of ``host``; ``AddressRefused`` if any is not allowed.

        One forbidden address in the answer refuses the whole name: which address
        a client picks is not ours to predict.
        """
        if _is_ip(host):
            answer: Iterable[str] = [host]
        else:
            answer = self._resolver(host, port)
        addresses = list(dict.fromkeys(answer))
        if not addresses:
            raise ImageError(f"cannot resolve registry host {host!r}: no address")
        for address in addresses:
            if not _is_ip(address):
                raise ImageError(f"resolver returned {address!r} for {host!r}: not an IP address")
            if not address_allowed(address, self._allowed):
                raise AddressRefused(
                    f"refusing to connect to {host} ({address}): loopback, link-local and "
                    "private addresses are not allowed (scanner_allowed_networks)"
                )
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.addresses(host, port):
            try:
                return super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # try the next checked address, as a resolver-driven client does
        assert last is not None
        raise last


def checked_transport(options: ScanOptions) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through ``CheckedBackend``.

    TLS trusts certifi's roots plus ``options.ca_file`` when set.
    """
    context = httpx.create_ssl_context(trust_env=False)
    if options.ca_file:
        try:
            context.load_verify_locations(cafile=options.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ImageError(f"cannot load registry CA file {options.ca_file}: {exc}") from None
    transport = httpx.HTTPTransport(verify=context, trust_env=False)
    # httpx offers no way to hand its httpcore pool a network backend: swap in a pool
    # built the same way (httpx's default limits) around ours.
    transport._pool.close()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=CheckedBackend(
            options.resolver or system_resolver, options.allowed_networks
        ),
    )
    return transport


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True
