"""The SSRF guard: fetch a user's URL only when every address it can reach is public.

Every URL a user supplies (an `image_url` in chat content or a Videos API request, a webhook
target) goes through here:

1. `check_url` parses it without DNS and refuses what no public fetch needs: schemes other than
   http(s), userinfo, backslashes, whitespace and control characters, numeric hosts in decimal,
   octal, hex or short form, unicode dots and invalid IDNA, trailing dots, single-label names,
   `localhost` and `*.localhost`, metadata and private-use names, and IP literals in a refused range.
2. `resolve_checked` resolves the host once and refuses it if ANY answer is not public: loopback,
   private, link-local, multicast, unspecified, reserved, shared, benchmarking, documentation and
   metadata ranges, and the IPv4-mapped, IPv4-compatible, 6to4 and NAT64 forms of those.
3. `fetch_public` connects to the checked address itself (the URL carries the IP, the Host header
   and TLS SNI carry the name, so no second lookup can rebind it), follows at most five redirects
   by hand and checks every hop again, and caps the bytes, the total time and the content type.

Refusals raise `InvalidRequestError` with `param` (default "url") and `code` `ssrf_blocked`,
`fetch_failed` or `too_large`. A `Policy` naming extra allowed networks exists for tests that must
reach a loopback server and for `webhook_allow_private`; it is a code-level argument, never built
from anything a user sends, and cloud metadata addresses (`addresses.metadata_refusal`, in every
spelling) stay refused whatever it allows.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import anyio
import httpx
import idna

from sorakit._version import __version__
from sorakit.errors import InvalidRequestError
from sorakit.security.addresses import (
    IPAddress,
    IPNetwork,
    address_refusal,
    metadata_refusal,
)

logger = logging.getLogger(__name__)

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""Every address a host name resolves to, as text (the default asks `anyio.getaddrinfo`)."""

MAX_REDIRECTS = 5
_MAX_URL_LENGTH = 4096
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


_SCHEME = re.compile(r"(https?)://", re.IGNORECASE)
_BAD_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")  # WHATWG parsers strip or rewrite these
_UNICODE_DOTS = ("\u3002", "\uff0e", "\uff61")  # IDNA maps them to "." after our checks would run
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")  # a host ending in one parses as IPv4
_METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
_PRIVATE_TLDS = frozenset({"internal", "local", "localdomain", "arpa", "invalid", "test", "onion"})


@dataclass(frozen=True)
class Policy:
    """Networks a fetch may reach although they are not public; production passes none."""

    allow: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None when it may; metadata is never allowed."""
        metadata = metadata_refusal(address)
        if metadata is not None:
            return metadata
        if any(address.version == net.version and address in net for net in self.allow):
            return None
        return address_refusal(address)


PUBLIC_ONLY = Policy()


@dataclass(frozen=True)
class ParsedTarget:
    """A URL that passed the static checks; `host` is lower-case ASCII (IDNA) or a bare IP."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    target: str  # the path and query, as they will be sent
    address: IPAddress | None  # the host, when it is an IP literal

    @property
    def host_header(self) -> str:
        """The Host header: the name, with the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL (no fragment, no userinfo)."""
        return f"{self.scheme}://{self.host_header}{self.target}"


@dataclass(frozen=True)
class Fetched:
    """What a public fetch returned."""

    data: bytes
    content_type: str  # the media type, lower case, without parameters
    final_url: str  # after redirects


def _blocked(reason: str, param: str) -> InvalidRequestError:
    logger.info("SSRF guard refused a %s: %s", param, reason)
    return InvalidRequestError(
        f"URL refused by the SSRF guard: {reason}", param=param, code="ssrf_blocked"
    )


def _failed(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code="fetch_failed")


def check_url(url: str, *, policy: Policy = PUBLIC_ONLY, param: str = "url") -> ParsedTarget:
    """Parse a user's URL and refuse it, without DNS, when it cannot be a public http(s) fetch."""
    if len(url) > _MAX_URL_LENGTH:
        raise _blocked("the URL is too long", param)
    if _BAD_CHARACTER.search(url) or not url.isprintable():
        raise _blocked("whitespace, control characters or backslashes in the URL", param)
    match = _SCHEME.match(url)
    if match is None:
        raise _blocked("only http:// and https:// URLs may be fetched", param)
    scheme: Literal["http", "https"] = "https" if match.group(1).lower() == "https" else "http"
    rest = url[match.end() :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    target = rest[len(authority) :].split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    if "@" in authority:
        raise _blocked("credentials (userinfo) in the URL are not allowed", param)
    host_text, port = _split_port(authority, scheme, param)
    host, address = _check_host(host_text, param)
    if address is not None:
        _check_address(address, host, policy, param)
    return ParsedTarget(scheme, host, port, target, address)


def _split_port(authority: str, scheme: str, param: str) -> tuple[str, int]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _blocked("an unterminated IPv6 literal", param)
        host, tail = authority[: end + 1], authority[end + 1 :]
    else:
        host, colon, port_text = authority.partition(":")
        tail = colon + port_text
    if not tail:
        return host, 443 if scheme == "https" else 80
    digits = tail[1:]
    if tail[0] != ":" or not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 65536:
        raise _blocked("an invalid port", param)
    return host, int(digits)


def _check_host(host: str, param: str) -> tuple[str, IPAddress | None]:
    """The host as it will be resolved and named, and its address when it is an IP literal."""
    if not host:
        raise _blocked("the URL has no host", param)
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise _blocked("a zone id in an IPv6 literal", param)
        try:
            literal = ipaddress.IPv6Address(inner)
        except ValueError:
            raise _blocked("an invalid IPv6 literal", param) from None
        return literal.compressed, literal
    if any(dot in host for dot in _UNICODE_DOTS):
        raise _blocked("a unicode dot in the host", param)
    if "%" in host:
        raise _blocked("a percent-encoded host", param)
    if host.endswith("."):
        raise _blocked("a trailing dot in the host", param)
    host = host.lower()
    if not host.isascii():
        try:  # strict IDNA 2008: no UTS 46 mapping, so full-width digits and dots stay refused
            host = idna.encode(host, uts46=False).decode("ascii")
        except UnicodeError:
            raise _blocked("a host name that is not valid IDNA", param) from None
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return _check_numeric(host, labels, param)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _blocked("an invalid host name", param)
    _check_name(host, labels, param)
    return host, None


def _check_numeric(host: str, labels: list[str], param: str) -> tuple[str, IPAddress]:
    canonical = len(labels) == 4 and all(
        label.isdigit() and (label == "0" or not label.startswith("0")) and int(label) <= 255
        for label in labels
    )
    if canonical:
        return host, ipaddress.IPv4Address(host)
    if any(label.startswith("0x") for label in labels):
        form = "hexadecimal"
    elif any(len(label) > 1 and label.startswith("0") for label in labels):
        form = "octal"
    else:
        form = "decimal or shortened"
    try:  # what a resolver would connect to (inet_aton's rules), to name metadata as such
        spelled = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        spelled = None
    if spelled is not None and (metadata := metadata_refusal(spelled)) is not None:
        raise _blocked(f"{host} is {spelled}, {metadata}", param)
    raise _blocked(f"a numeric host in {form} form (only dotted-quad IPv4 is accepted)", param)


def _check_name(host: str, labels: list[str], param: str) -> None:
    if host in _METADATA_NAMES:
        raise _blocked(f"{host} is a cloud metadata name", param)
    if labels[-1] == "localhost" or host == "localhost.localdomain":
        raise _blocked(f"{host} is a localhost name", param)
    if len(labels) == 1:
        raise _blocked(f"{host} is a single-label host name", param)
    if labels[-1] in _PRIVATE_TLDS:
        raise _blocked(f"{host} is a private-use name", param)


def _check_address(address: IPAddress, host: str, policy: Policy, param: str) -> None:
    reason = policy.refusal(address)
    if reason is None:
        return
    if address.compressed == host:
        raise _blocked(f"{address} is {reason}", param)
    raise _blocked(f"{host} resolves to {address}, {reason}", param)


async def system_resolver(host: str) -> list[str]:
    """Every address the system resolver answers for `host` (A and AAAA)."""
    answers = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(answer[4][0]) for answer in answers]


def _metadata_host(host: str) -> str | None:
    """Why `host` (a name or an IP in any spelling) is a cloud metadata endpoint, or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name in _METADATA_NAMES:
        return f"{name} is a cloud metadata name"
    try:
        address: IPAddress = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        try:  # decimal, octal, hex and short forms, read as a resolver would read them
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    reason = metadata_refusal(address)
    return None if reason is None else f"{host} is {reason}"


def check_trusted_url(url: str, *, param: str) -> httpx.URL:
    """An operator's URL, refused only when it names a cloud metadata endpoint (no DNS)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise _blocked("the URL cannot be parsed", param) from None
    reason = _metadata_host(urllib.parse.unquote(parsed.host))
    if reason is not None:
        raise _blocked(reason, param)
    return parsed


async def refuse_metadata(url: str, *, resolver: Resolver | None = None, param: str) -> None:
    """Refuse an operator's URL when its host is, or resolves to, a cloud metadata endpoint."""
    host = check_trusted_url(url, param=param).host
    try:
        answers = await (resolver or system_resolver)(host)
    except OSError:
        return  # the POST itself fails on the same lookup, and says so
    for answer in answers:
        reason = _metadata_host(answer)
        if reason is not None:
            raise _blocked(f"{host} resolves to a cloud metadata endpoint ({reason})", param)


async def resolve_checked(
    host: str,
    *,
    resolver: Resolver | None = None,
    policy: Policy = PUBLIC_ONLY,
    param: str = "url",
) -> list[IPAddress]:
    """Every address of `host`, refused unless all are allowed; an IP literal is not resolved."""
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    name, literal = _check_host(bracketed, param)
    return await _resolve(name, literal, resolver, policy, param)


async def _resolve(
    name: str, literal: IPAddress | None, resolver: Resolver | None, policy: Policy, param: str
) -> list[IPAddress]:
    if literal is not None:
        _check_address(literal, name, policy, param)
        return [literal]
    try:
        answers = await (resolver or system_resolver)(name)
    except OSError as exc:
        raise _failed(f"could not resolve {name}: {exc.strerror or exc}", param) from exc
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            raise _blocked(f"{name} resolves to an unparseable address", param) from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _failed(f"{name} resolves to no address", param)
    for address in addresses:  # one bad answer refuses the host: a rebinder may rotate them
        _check_address(address, name, policy, param)
    return addresses


def pinned_request(
    method: str,
    target: ParsedTarget,
    address: IPAddress,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Request:
    """A request that connects to the checked `address` and names `target.host` in Host and SNI."""
    ip_host = f"[{address.compressed}]" if address.version == 6 else str(address)
    url = httpx.URL(f"{target.scheme}://{ip_host}:{target.port}{target.target}")
    merged = httpx.Headers(headers)
    merged.setdefault("user-agent", f"sorakit/{__version__}")
    merged["host"] = target.host_header
    # A pooled connection is keyed by IP and port only: one opened with another name's SNI and
    # certificate must never carry this request, so pinned connections are never reused.
    merged["connection"] = "close"
    extensions: dict[str, object] = {"timeout": httpx.Timeout(timeout).as_dict()}
    if target.address is None:  # httpcore verifies the certificate against this name too
        extensions["sni_hostname"] = target.host
    return httpx.Request(method, url, headers=merged, content=content, extensions=extensions)


async def fetch_public(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowed_types: Collection[str] | None = None,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: Policy = PUBLIC_ONLY,
    param: str = "url",
) -> Fetched:
    """GET a user's URL through the guard: checked, pinned, redirects re-checked, size and time capped.

    `allowed_types` holds media types (`image/png`) or wildcards (`image/*`); `transport` replaces
    the HTTP transport (a fresh one per hop otherwise); `policy` is for tests only.
    """
    try:
        with anyio.fail_after(timeout):
            return await _fetch(
                check_url(url, policy=policy, param=param),
                max_bytes=max_bytes,
                timeout=timeout,
                allowed_types=allowed_types,
                resolver=resolver,
                transport=transport,
                policy=policy,
                param=param,
            )
    except TimeoutError:
        raise _failed(f"fetching the URL took longer than {timeout:g} s", param) from None


async def _fetch(
    target: ParsedTarget,
    *,
    max_bytes: int,
    timeout: float,
    allowed_types: Collection[str] | None,
    resolver: Resolver | None,
    transport: httpx.AsyncBaseTransport | None,
    policy: Policy,
    param: str,
) -> Fetched:
    for _hop in range(MAX_REDIRECTS + 1):
        addresses = await _resolve(target.host, target.address, resolver, policy, param)
        request = pinned_request("GET", target, addresses[0], timeout=timeout)
        hop_transport = transport or httpx.AsyncHTTPTransport(retries=0)
        try:
            response = await hop_transport.handle_async_request(request)
            response.request = request
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    target = _redirect_target(target, response, policy, param)
                    continue
                return await _read(target, response, max_bytes, allowed_types, param)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:  # one message, whichever clock ran out first
            raise TimeoutError from exc
        except httpx.HTTPError as exc:
            raise _failed(f"could not fetch the URL: {type(exc).__name__}", param) from exc
        finally:
            if transport is None:
                await hop_transport.aclose()
    raise _failed(f"the URL redirected more than {MAX_REDIRECTS} times", param)


def _redirect_target(
    target: ParsedTarget, response: httpx.Response, policy: Policy, param: str
) -> ParsedTarget:
    location = response.headers.get("location")
    if not location:
        raise _failed(f"the URL answered HTTP {response.status_code} without a Location", param)
    return check_url(urllib.parse.urljoin(target.url, location), policy=policy, param=param)


async def _read(
    target: ParsedTarget,
    response: httpx.Response,
    max_bytes: int,
    allowed_types: Collection[str] | None,
    param: str,
) -> Fetched:
    if not response.is_success:
        raise _failed(f"the URL answered HTTP {response.status_code}", param)
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if allowed_types is not None and not _type_allowed(media_type, allowed_types):
        raise InvalidRequestError(
            f"the URL answered {media_type or 'no content type'}, "
            f"expected one of {', '.join(sorted(allowed_types))}",
            param=param,
            allowed=sorted(allowed_types),
            code="fetch_failed",
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, param)
    data = bytearray()
    async for chunk in response.aiter_bytes():  # decoded bytes: a gzip bomb stops here too
        data += chunk
        if len(data) > max_bytes:
            raise _too_large(max_bytes, param)
    logger.debug("fetched %d bytes of %s from %s", len(data), media_type, target.host)
    return Fetched(bytes(data), media_type, target.url)


def _type_allowed(media_type: str, allowed: Collection[str]) -> bool:
    family = media_type.split("/", 1)[0]
    return any(
        media_type == pattern.lower() or pattern.lower() == f"{family}/*" for pattern in allowed
    )


def _too_large(max_bytes: int, param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"the URL's content is larger than {max_bytes} bytes", param=param, code="too_large"
    )
