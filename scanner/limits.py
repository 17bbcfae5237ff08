"""What a scan may cost, and where it may connect: limits against hostile images.

``ScanOptions`` travels from the settings (or a test) down to the image readers;
the scanner core never reads the environment itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from settings import Settings

__all__ = ["Limits", "ScanOptions", "address_allowed"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on one image; exceeding any of them is an ``ImageError``."""

    max_layers: int = 128
    max_manifest_bytes: int = 4 * MiB  # manifests, indexes and configs
    max_expanded_bytes: int = 16 * 1024 * MiB  # all layers, uncompressed
    max_ratio: float = 200.0  # uncompressed / compressed, per layer
    # The ratio is judged only past this many uncompressed bytes: a tiny layer of
    # zeros legitimately compresses far better than any real one.
    ratio_floor_bytes: int = 64 * MiB
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # between two bytes from a registry
    total_timeout: float = 1800.0  # a whole scan, against registries that drip


@dataclass(frozen=True)
class ScanOptions:
    """How to reach registries and what an image may cost."""

    limits: Limits = field(default_factory=Limits)
    # host[:port] -> "user:password"; never logged, never put into an error message.
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    # host[:port] spoken to over plain HTTP (a registry without TLS on a private network).
    plain_http: frozenset[str] = frozenset()
    # Networks a registry (or a redirect, or a token realm) may resolve to even though
    # they are loopback, link-local or private; public addresses are always allowed.
    allowed_networks: tuple[str, ...] = ()
    platform: str = "linux/amd64"  # "os/arch[/variant]" chosen in image indexes
    # A ready-made Authorization header (Harbor adapters receive one per scan request).
    authorization: str | None = field(default=None, repr=False)
    # PEM file of extra CAs trusted for registries (a private CA); certifi's roots stay.
    ca_file: str | None = None
    # (host, port) -> IP addresses; the system resolver when None. Each connection
    # resolves once and connects to an address it checked (scanner.network).
    resolver: Callable[[str, int], Sequence[str]] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings, platform: str | None = None) -> ScanOptions:
        """The options an operator configured in the ``scanner_*`` settings."""
        limits = Limits(
            max_layers=settings.scanner_max_layers,
            max_manifest_bytes=settings.scanner_max_manifest_bytes,
            max_expanded_bytes=settings.scanner_max_expanded_bytes,
            max_ratio=settings.scanner_max_ratio,
            connect_timeout=settings.scanner_connect_timeout_seconds,
            read_timeout=settings.scanner_read_timeout_seconds,
            total_timeout=settings.scanner_total_timeout_seconds,
        )
        return cls(
            limits=limits,
            credentials={
                k: v.get_secret_value() for k, v in settings.scanner_registry_auth.items()
            },
            plain_http=frozenset(settings.scanner_plain_http_registries),
            allowed_networks=tuple(settings.scanner_allowed_networks),
            platform=platform or "linux/amd64",
        )


def address_allowed(address: str, allowed_networks: tuple[str, ...]) -> bool:
    """Whether a registry may be reached at ``address`` (an IP literal).

    Loopback, link-local, private, reserved, multicast and unspecified addresses
    are refused unless one of ``allowed_networks`` contains them: a registry must
    not be able to steer the scanner at the worker's own network.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in allowed_networks:
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    return not (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )
