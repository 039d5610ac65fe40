"""Which reverse proxies to believe, and the client address and country they report.

Headers such as CF-IPCountry or X-Forwarded-For are only as trustworthy as the peer that sent
them: a browser can set them too. They are read only when the TCP peer is a trusted proxy.
"""
import ipaddress
import re
from typing import Iterable, Mapping

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloudflare's published edge ranges (cloudflare.com/ips); `cloudflare` in TRUSTED_PROXIES expands to these.
CLOUDFLARE_RANGES = (
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
    "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
    "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32",
    "2a06:98c0::/29", "2c0f:f248::/32",
)

# CF-IPCountry values that are not countries: XX unknown, T1 Tor.
_PORT_RE = re.compile(r":[0-9]{1,5}")
_NOT_COUNTRIES = frozenset({"XX", "T1"})


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    """Parse a comma-separated list of CIDRs and the keyword `cloudflare`; ValueError names a bad entry."""
    networks: list[IPNetwork] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part.lower() == "cloudflare":
            networks.extend(ipaddress.ip_network(r) for r in CLOUDFLARE_RANGES)
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not a network such as 10.0.0.0/8 or the word cloudflare") from None
    return tuple(networks)


def parse_address(raw: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address from what proxies and clients write, in one canonical form, or None.

    Accepts `203.0.113.7`, `203.0.113.7:52311` (port), `[2001:db8::1]` and `[2001:db8::1]:443`
    (brackets, port), quoted forms (`"[2001:db8::1]:4711"`, RFC 7239), zone ids (`fe80::1%eth0`,
    dropped: they name an interface of the sender, and PostgreSQL's inet refuses them) and any
    letter case. IPv4-mapped IPv6 (`::ffff:198.51.100.4`) becomes the IPv4 address, so a visitor is
    the same address on every path. Anything else (`unknown`, garbage) is None.
    """
    if not raw:
        return None
    text = raw.strip().strip('"').strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not _PORT_RE.fullmatch(text[end + 1:])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def normalize_address(raw: str | None) -> str | None:
    """The canonical text of an address (see parse_address), or None when it is not one."""
    address = parse_address(raw)
    return None if address is None else str(address)


class TrustedProxies:
    """The trusted networks, answering "is this peer a trusted proxy?" with a per-process memo.

    A deployment sees few distinct proxy addresses and many requests, and a membership test
    against two dozen networks is slow in Python, so answers are remembered (bounded).
    """

    MEMO_LIMIT = 4096

    def __init__(self, networks: Iterable[IPNetwork]):
        self.networks = tuple(networks)
        self._memo: dict[str, bool] = {}

    def trusts(self, raw: str | None) -> bool:
        """True when `raw` is an address inside one of the trusted networks."""
        if not raw:
            return False
        known = self._memo.get(raw)
        if known is not None:
            return known
        address = parse_address(raw)
        answer = address is not None and any(address in network for network in self.networks)
        if len(self._memo) >= self.MEMO_LIMIT:
            self._memo.clear()
        self._memo[raw] = answer
        return answer


def client_address(peer: str | None, headers: Mapping[str, str], proxies: TrustedProxies) -> str | None:
    """The visitor's address as reported by trusted proxies, else the TCP peer.

    1. A peer outside the trusted networks is the visitor itself.
    2. From a trusted peer, CF-Connecting-IP (set by Cloudflare) wins.
    3. Else X-Forwarded-For is walked from the right, skipping trusted hops: the leftmost
       entries are whatever the browser sent and prove nothing.
    """
    address = parse_address(peer)
    if address is None or not proxies.trusts(peer):
        return str(address) if address is not None else None
    connecting = parse_address(headers.get("CF-Connecting-IP"))
    if connecting is not None:
        return str(connecting)
    for hop in reversed((headers.get("X-Forwarded-For") or "").split(",")):
        hop_address = parse_address(hop)
        if hop_address is None:
            break
        address = hop_address
        if not proxies.trusts(str(hop_address)):
            break
    return str(address)


def proxy_country(headers: Mapping[str, str], trusted: bool) -> str | None:
    """The country Cloudflare put in CF-IPCountry, when the peer is trusted and it names a country."""
    if not trusted:
        return None
    raw = (headers.get("CF-IPCountry") or "").strip().upper()
    if len(raw) == 2 and raw.isascii() and raw.isalpha() and raw not in _NOT_COUNTRIES:
        return raw
    return None
