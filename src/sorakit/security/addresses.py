"""Which IP addresses a user's URL may reach: the SSRF guard's address rules.

`metadata_refusal` names the cloud metadata endpoints (instance credentials live there), in every
IPv6 form that can carry their IPv4 address; no allowance ever lifts it, so a policy checks it
first. `address_refusal` refuses everything that is not a public address: IANA's special-purpose
ranges, and the IPv4-mapped, IPv4-compatible, 6to4 and NAT64 forms of those.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), reason) for network, reason in rows)


METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "100.100.100.200",  # Alibaba Cloud
        "169.254.0.23",  # Tencent Cloud
        "168.63.129.16",  # Azure WireServer (a public address, so nothing else refuses it)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
    )
)
"""Cloud metadata endpoints: refused whatever a policy allows."""

# IANA's special-purpose registries, most specific first: the first match names the reason.
_V4_REFUSED = _table(
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "a broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_REFUSED = _table(
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a reserved (site-local) address"),
    ("ff00::/8", "a multicast address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("2001:2::/48", "a benchmarking address"),
    ("100::/64", "a reserved (discard) address"),
    ("64:ff9b:1::/48", "a reserved (local-use NAT64) address"),
    ("2001::/23", "a reserved (IETF protocol) address"),  # Teredo too: it hides the client's IPv4
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765's SIIT form


def metadata_refusal(address: IPAddress) -> str | None:
    """Why `address` is a cloud metadata endpoint (or carries one), or None when it is not."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        for inner, form in _ipv4_forms(address):
            if inner in METADATA_ADDRESSES:
                return f"a cloud metadata address in {form} form"
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public address, or None when it is."""
    metadata = metadata_refusal(address)
    if metadata is not None:
        return metadata
    table = _V4_REFUSED if address.version == 4 else _V6_REFUSED
    for network, reason in table:
        if address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            inner_reason = address_refusal(inner)
            if inner_reason is not None:
                return f"{inner_reason} in {form} form"
            if form == "IPv4-compatible":
                return "a deprecated IPv4-compatible address"
            return None
    if not address.is_global:  # the catch-all for ranges registered after this table
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low, "NAT64"
    if address in _IPV4_COMPATIBLE:
        return low, "IPv4-compatible"
    return None


def _ipv4_forms(address: ipaddress.IPv6Address) -> Iterator[tuple[ipaddress.IPv4Address, str]]:
    """Every IPv4 address that a translator or tunnel could reach through `address`."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        yield embedded
    if address.teredo is not None:
        server, client = address.teredo
        yield server, "Teredo"
        yield client, "Teredo"
    # A NAT64 with its own /96 prefix (RFC 6052), or SIIT, puts the IPv4 address in the low bits.
    form = "IPv4-translated" if address in _IPV4_TRANSLATED else "embedded IPv4"
    yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), form
