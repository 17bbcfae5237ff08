"""Connecting to Temporal with the settings' address, namespace and TLS files."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS from the settings' files, or no TLS when none is set."""
    if not (settings.temporal_tls_cert or settings.temporal_tls_ca):
        return False
    return TLSConfig(
        server_root_ca_cert=settings.temporal_tls_ca.read_bytes()
        if settings.temporal_tls_ca
        else None,
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=settings.temporal_tls_key.read_bytes()
        if settings.temporal_tls_key
        else None,
    )


async def connect(settings: Settings) -> Client:
    """A Temporal client using the pydantic data converter shared by every process."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
    )
