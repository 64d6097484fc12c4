"""Building and configuring the asyncua client of an OPC UA source (security, user, timeouts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from cryptography import x509

from protocols.config import OpcUaSourceConfig

__all__ = ["ClientFactory", "default_client", "configure_client", "certificate_uri"]

ClientFactory = Callable[[OpcUaSourceConfig], Client]


def default_client(config: OpcUaSourceConfig) -> Client:
    client = Client(config.endpoint, timeout=config.request_timeout_s, watchdog_intervall=config.watchdog_interval_s)
    client.session_timeout = config.session_timeout_ms
    client.name = client.description = f"shopfloor-sync edge ({config.name})"
    return client


async def configure_client(client: Client, config: OpcUaSourceConfig) -> None:
    """Security and user identity from the config (before ``connect``)."""
    if config.username is not None:
        client.set_user(config.username)
        if config.password is not None:
            client.set_password(config.password.get_secret_value())
    if config.security_mode == "None":
        return
    assert config.security_policy and config.certificate and config.private_key  # config validator
    uri = certificate_uri(config.certificate)
    if uri:  # servers check that the application URI matches the certificate's
        client.application_uri = uri
    policy = getattr(security_policies, f"SecurityPolicy{config.security_policy}")
    password = config.private_key_password.get_secret_value() if config.private_key_password else None
    await client.set_security(
        policy,
        config.certificate,
        config.private_key,
        password,
        config.server_certificate,
        getattr(ua.MessageSecurityMode, config.security_mode),
    )


def certificate_uri(path: str) -> str:
    """The first URI in a certificate's SubjectAltName ("" when it has none)."""
    data = Path(path).read_bytes()
    cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ""
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else ""
