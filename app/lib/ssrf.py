"""Refusing outbound requests to loopback, private, link-local and metadata addresses.

The check runs on the addresses the host name resolves to, inside the HTTP client's connect
step, and the connection is then made to the checked address itself: a name that resolves to a
public address when a destination is saved and to 127.0.0.1 at send time (DNS rebinding) is
still refused. TLS keeps using the host name for SNI and certificate checks.

An IPv6 address that carries an IPv4 address is judged by the IPv4 address it carries
(`embedded_ipv4`): IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`,
IPv4-compatible `::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`, Teredo `2001::/32` (server and client),
NAT64 `64:ff9b::/96` and local-use NAT64 `64:ff9b:1::/48` (RFC 6052 layouts), and ISATAP
interface ids `…:0:5efe:a.b.c.d` / `…:200:5efe:a.b.c.d`; `[::7f00:1]` is 127.0.0.1 and refused.
Refusals name the rule and the host as written, never the addresses DNS answered.
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


_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
RULE = ("refused by the destination address rule: it is or resolves to a loopback, private, link-local or"
        " metadata address (or multicast, or an IPv6 address embedding such an IPv4 address)")


def _v4(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value & 0xFFFFFFFF)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries (None when it carries none); see the module docstring."""
    value = int(ip)
    if ip in _MAPPED or ip in _TRANSLATED:
        return [_v4(value)]
    if ip in _COMPATIBLE:
        # ::, ::1 and the rest of ::/112 are not IPv4-compatible forms: judged as IPv6 (not public).
        return [_v4(value)] if value >> 16 else None
    if ip in _SIX_TO_FOUR:
        return [_v4(value >> 80)]
    if ip in _TEREDO:
        server, client = ip.teredo
        return [server, client]
    if ip in _NAT64:
        return [_v4(value)]
    if ip in _NAT64_LOCAL:
        # RFC 6052 /48 layout (bits 48-63 and 72-87, the u-octet between) and the /96 one.
        return [_v4(((value >> 64) & 0xFFFF) << 16 | ((value >> 40) & 0xFFFF)), _v4(value)]
    if (value >> 32) & 0xFDFFFFFF == 0x00005EFE:
        return [_v4(value)]
    return None


def is_public_address(address: str) -> bool:
    """True when `address` is a globally routable unicast address and no metadata endpoint.

    An IPv6 address embedding IPv4 addresses is public only when every one of them is (and, for
    ISATAP, the IPv6 address itself).
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # a zone (fe80::1%eth0) only exists on this machine's links
            return False
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            isatap = not any(ip in net for net in (_MAPPED, _TRANSLATED, _COMPATIBLE, _SIX_TO_FOUR, _TEREDO,
                                                    _NAT64, _NAT64_LOCAL))
            return all(_is_public(v4) for v4 in embedded) and (not isatap or _is_public(ip))
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if any(ip in net for net in _METADATA if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def resolve_public(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, or BlockedAddress when any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    except UnicodeError:
        raise httpx.ConnectError(f"cannot resolve {host}: not a valid host name") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not all(is_public_address(a) for a in addresses):
        raise BlockedAddress(f"{host}: {RULE} (ALLOW_PRIVATE_DESTINATIONS=1 allows them)")
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
