"""Refusing outbound requests to loopback, private, link-local and metadata addresses.

The check runs on the addresses the host name resolves to, inside the HTTP client's connect
step, and the connection is then made to the checked address itself: a name that resolves to a
public address when a destination is saved and to 127.0.0.1 at send time (DNS rebinding) is
still refused. TLS keeps using the host name for SNI and certificate checks.
"""
import ipaddress
import socket

import httpcore
import httpx

# Cloud metadata endpoints that are not covered by "not global" everywhere (e.g. AWS IPv6).
_METADATA = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::/32"),
             ipaddress.ip_network("100.100.100.200/32"))


class BlockedAddress(httpx.ConnectError):
    """The destination resolves to an address XTRACKER refuses to call."""


def is_public_address(address: str) -> bool:
    """True when `address` is a globally routable unicast address and no metadata endpoint."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _METADATA if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def resolve_public(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, or BlockedAddress when any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in addresses if not is_public_address(a)]
    if refused:
        raise BlockedAddress(f"{host} resolves to {refused[0]}, a loopback, private, link-local or metadata"
                             " address; outbound requests there are refused (ALLOW_PRIVATE_DESTINATIONS=1 allows them)")
    return addresses


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to the checked address."""

    def __init__(self):
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error: Exception | None = None
        for address in resolve_public(host, port):
            try:
                return self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise BlockedAddress("unix sockets are not destinations")

    def sleep(self, seconds):
        self._inner.sleep(seconds)


def transport(*, allow_private: bool, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport that refuses non-public addresses unless `allow_private`."""
    result = httpx.HTTPTransport(limits=limits, trust_env=False)
    if not allow_private:
        # httpx has no public hook for the connect step; the pool is rebuilt with the same
        # settings and our network backend (httpx pinned in requirements.txt).
        result._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )
    return result
