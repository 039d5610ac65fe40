"""DNS questions for custom-domain checks, behind a small interface so tests can inject answers."""
from typing import Protocol

import dns.exception
import dns.resolver


class Resolver(Protocol):
    """What a custom-domain check asks DNS."""

    def cname(self, hostname: str) -> str | None:
        """The CNAME target of `hostname` (lower case, no trailing dot), or None."""

    def addresses(self, hostname: str) -> frozenset[str]:
        """The A and AAAA addresses `hostname` resolves to (following CNAMEs)."""


class SystemResolver:
    """Asks the system's configured name servers (dnspython), with a short timeout."""

    def __init__(self, timeout: float = 3.0):
        self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = timeout

    def cname(self, hostname: str) -> str | None:
        """The CNAME target of `hostname`, or None when it has none or DNS does not answer."""
        try:
            answer = self.resolver.resolve(hostname, "CNAME")
        except (dns.exception.DNSException, ValueError):
            return None
        for record in answer:
            return record.target.to_text().rstrip(".").lower()
        return None

    def addresses(self, hostname: str) -> frozenset[str]:
        """Every A and AAAA address of `hostname`; empty when it does not resolve."""
        found: set[str] = set()
        for kind in ("A", "AAAA"):
            try:
                found.update(record.to_text() for record in self.resolver.resolve(hostname, kind))
            except (dns.exception.DNSException, ValueError):
                continue
        return frozenset(found)


MAX_CNAME_HOPS = 8


def points_at(resolver: Resolver, hostname: str, target: str) -> tuple[bool, str]:
    """Whether `hostname` reaches `target` through DNS, and a human reason.

    1. Follow the CNAME chain (at most MAX_CNAME_HOPS): reaching `target` is a match.
    2. Otherwise, when the names' A/AAAA addresses overlap, it is a match too: DNS providers
       that flatten CNAMEs (Cloudflare at the apex, proxied records) answer with addresses only.
    """
    name, seen = hostname, []
    for _ in range(MAX_CNAME_HOPS):
        name = resolver.cname(name)
        if name is None:
            break
        seen.append(name)
        if name == target:
            return True, f"{hostname} is a CNAME of {target}"
    mine, theirs = resolver.addresses(hostname), resolver.addresses(target)
    if mine and mine & theirs:
        return True, f"{hostname} resolves to the addresses of {target}"
    if seen:
        return False, f"{hostname} is a CNAME of {seen[-1]}, not of {target}"
    if mine:
        return False, f"{hostname} resolves to {', '.join(sorted(mine))}, not to {target}"
    return False, f"{hostname} has no DNS record yet; add a CNAME record pointing at {target}"
