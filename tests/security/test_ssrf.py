"""The SSRF guard: a battery of hostile URLs, DNS rebinding, redirects, caps, real fetches on loopback."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import io
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sorakit.errors import InvalidRequestError
from sorakit.security.ssrf import (
    MAX_REDIRECTS,
    Policy,
    check_url,
    fetch_public,
    resolve_checked,
)
from sorakit.server.webhooks import PRIVATE_TARGETS
from tests.conftest import ThreadedServer

PUBLIC_IP = "93.184.216.34"
# Test-only: lets the guard reach the loopback test server; production code never passes a policy.
LOOPBACK = Policy(allow=(ipaddress.ip_network("127.0.0.1/32"),))
IMAGE_TYPES = ("image/png", "image/jpeg")


def make_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 40, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = make_png()


class FakeDNS:
    """A resolver that answers from a table; a list of lists answers one list per call (rebinding)."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.calls.append(host)
        answers = self.table.get(host, [PUBLIC_IP])
        if answers and isinstance(answers[0], list):
            nth = sum(1 for call in self.calls if call == host) - 1
            return answers[min(nth, len(answers) - 1)]
        return answers  # type: ignore[return-value]


class Recorder:
    """An httpx transport handler that records every request and answers a PNG."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, headers={"content-type": "image/png"}, content=PNG)


HOSTILE_DNS = {
    "private.example.com": ["10.0.0.7"],
    "loopback6.example.com": ["::1"],
    "mapped.example.com": ["::ffff:169.254.169.254"],
    "mixed.example.com": [PUBLIC_IP, "192.168.0.10"],
    "nat64.example.com": ["64:ff9b::7f00:1"],
}

# (url, a phrase the refusal must contain); none of these may reach the transport.
HOSTILE = [
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:6379/_INFO", "only http:// and https://"),
    ("ftp://example.com/cat.png", "only http:// and https://"),
    ("http:/127.0.0.1/", "only http:// and https://"),
    ("//127.0.0.1/", "only http:// and https://"),
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("HTTP://127.0.0.1:8080/", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1#@images.example.com/", "127.0.0.1 is a loopback address"),
    ("http://localhost/", "localhost is a localhost name"),
    ("http://api.LocalHost/", "api.localhost is a localhost name"),
    ("http://localhost./", "a trailing dot"),
    ("http://images.example.com./", "a trailing dot"),
    ("http://2130706433/", "a numeric host in decimal or shortened form"),
    ("http://0/", "a numeric host in decimal or shortened form"),
    ("http://127.1/", "a numeric host in decimal or shortened form"),
    ("http://0177.0.0.1/", "a numeric host in octal form"),
    ("http://127.000.000.001/", "a numeric host in octal form"),
    ("http://0x7f.1/", "a numeric host in hexadecimal form"),
    ("http://0x7f000001/", "a numeric host in hexadecimal form"),
    ("http://1.2.3.4.5/", "a numeric host"),
    ("http://images.example.com@127.0.0.1/", "credentials (userinfo)"),
    ("https://127.0.0.1:443@images.example.com/", "credentials (userinfo)"),
    ("http://images.example.com:@127.0.0.1/", "credentials (userinfo)"),
    ("http://images.example.com\\@127.0.0.1/", "backslashes"),
    (" http://127.0.0.1/", "whitespace"),
    ("http://127.0.0.1\n.images.example.com/", "control characters"),
    ("http://127\u30020\u30020\u30021/", "a unicode dot"),
    ("http://images\uff0eexample\uff0ecom/", "a unicode dot"),
    ("http://\uff11\uff12\uff17.0.0.1/", "not valid IDNA"),
    ("http://%31%32%37.0.0.1/", "a percent-encoded host"),
    ("http://127.0.0.1:80:80/", "an invalid port"),
    ("http://images.example.com:0/", "an invalid port"),
    ("http://images.example.com:99999/", "an invalid port"),
    ("http:///cat.png", "no host"),
    ("http://intranet/", "a single-label host name"),
    ("http://printer.local/", "a private-use name"),
    ("http://vault.internal/", "a private-use name"),
    ("http://metadata.google.internal/computeMetadata/v1/", "a cloud metadata name"),
    ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
    ("http://169.254.1.1/", "a link-local address"),
    ("http://10.0.0.1/", "a private address"),
    ("http://172.16.5.4/", "a private address"),
    ("http://192.168.1.1/", "a private address"),
    ("http://100.64.0.1/", "a shared (carrier-grade NAT) address"),
    ("http://0.0.0.0/", "an unspecified address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://255.255.255.255/", "a broadcast address"),
    ("http://198.18.0.1/", "a benchmarking address"),
    ("http://192.0.2.1/", "a documentation address"),
    ("http://203.0.113.9/", "a documentation address"),
    ("http://[::1]/", "a loopback address"),
    ("http://[::]/", "an unspecified address"),
    ("http://[fd00:ec2::254]/", "a cloud metadata address"),
    ("http://[fc00::1]/", "a private (unique local) address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[fe80::1%25eth0]/", "a zone id"),
    ("http://[ff02::1]/", "a multicast address"),
    ("http://[2001:db8::1]/", "a documentation address"),
    ("http://[::ffff:127.0.0.1]/", "a loopback address in IPv4-mapped form"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "a loopback address in IPv4-mapped form"),
    ("http://[::ffff:169.254.169.254]/", "a cloud metadata address in IPv4-mapped form"),
    ("http://[::ffff:a00:1]:8080/", "a private address in IPv4-mapped form"),
    ("http://[::127.0.0.1]/", "a loopback address in IPv4-compatible form"),
    ("http://[::8.8.8.8]/", "a deprecated IPv4-compatible address"),
    ("http://[2002:7f00:1::]/", "a loopback address in 6to4 form"),
    ("http://[64:ff9b::10.0.0.1]/", "a private address in NAT64 form"),
    ("http://[::1/", "an unterminated IPv6 literal"),
    ("http://[not-an-ip]/", "an invalid IPv6 literal"),
    ("http://under_score.example.com/", "an invalid host name"),
]

HOSTILE_RESOLVED = [
    ("http://private.example.com/", "private.example.com resolves to 10.0.0.7, a private address"),
    ("http://loopback6.example.com/", "resolves to ::1, a loopback address"),
    ("http://mapped.example.com/", "a cloud metadata address in IPv4-mapped form"),
    ("http://mixed.example.com/", "resolves to 192.168.0.10, a private address"),
    ("http://nat64.example.com/", "a loopback address in NAT64 form"),
]


async def _refused(
    url: str, dns: FakeDNS, recorder: Recorder, policy: Policy | None = None
) -> InvalidRequestError:
    """The guard's refusal of `url` (failing the test if it is let through)."""
    with pytest.raises(InvalidRequestError) as caught:
        await fetch_public(
            url,
            max_bytes=10_000,
            timeout=5,
            resolver=dns,
            transport=httpx.MockTransport(recorder),
            **({"policy": policy} if policy is not None else {}),
        )
    assert caught.value.code == "ssrf_blocked"
    return caught.value


def test_the_battery_holds_at_least_30_hostile_urls() -> None:
    assert len(HOSTILE) + len(HOSTILE_RESOLVED) >= 30


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
async def test_a_hostile_url_is_refused_before_any_lookup_or_connection(
    url: str, reason: str
) -> None:
    dns, recorder = FakeDNS(), Recorder()
    caught = await _refused(url, dns, recorder)
    assert caught.param == "url"
    assert reason in caught.message
    assert dns.calls == []
    assert recorder.requests == []


@pytest.mark.parametrize(("url", "reason"), HOSTILE_RESOLVED)
async def test_a_host_resolving_to_a_refused_address_is_refused(url: str, reason: str) -> None:
    dns, recorder = FakeDNS(dict(HOSTILE_DNS)), Recorder()
    with pytest.raises(InvalidRequestError) as caught:
        await fetch_public(
            url, max_bytes=10_000, timeout=5, resolver=dns, transport=httpx.MockTransport(recorder)
        )
    assert caught.value.code == "ssrf_blocked"
    assert reason in caught.value.message
    assert len(dns.calls) == 1
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("url", "host", "port", "target"),
    [
        ("https://images.example.com/cat.png", "images.example.com", 443, "/cat.png"),
        ("HTTP://Images.Example.COM:8080/a?b=1#frag", "images.example.com", 8080, "/a?b=1"),
        ("https://b\u00fccher.example.com", "xn--bcher-kva.example.com", 443, "/"),
        ("http://8.8.8.8/x", "8.8.8.8", 80, "/x"),
        ("https://[2606:4700::1111]:8443/", "2606:4700::1111", 8443, "/"),
        ("http://[::ffff:8.8.8.8]/", "::ffff:808:808", 80, "/"),
        ("https://0x7f.example.com/", "0x7f.example.com", 443, "/"),
    ],
)
def test_public_urls_pass_the_static_check(url: str, host: str, port: int, target: str) -> None:
    parsed = check_url(url)
    assert (parsed.host, parsed.port, parsed.target) == (host, port, target)


def test_the_loopback_policy_allows_only_what_it_names() -> None:
    assert check_url("http://127.0.0.1:9/", policy=LOOPBACK).address is not None
    for url in (
        "http://127.0.0.2/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
    ):
        with pytest.raises(InvalidRequestError, match="SSRF guard"):
            check_url(url, policy=LOOPBACK)


async def test_resolve_checked_returns_every_public_answer_and_refuses_a_mixed_set() -> None:
    dns = FakeDNS(
        {
            "hooks.example.com": [PUBLIC_IP, "2606:4700::1111", PUBLIC_IP],
            "mixed.example.com": ["2606:4700::1111", "fd12::1"],
        }
    )
    addresses = await resolve_checked("Hooks.Example.com", resolver=dns)
    assert [str(address) for address in addresses] == [PUBLIC_IP, "2606:4700::1111"]
    with pytest.raises(InvalidRequestError, match="fd12::1, a private") as caught:
        await resolve_checked("mixed.example.com", resolver=dns, param="webhook_url")
    assert caught.value.param == "webhook_url"
    assert [str(a) for a in await resolve_checked("2606:4700::1111", resolver=dns)] == [
        "2606:4700::1111"
    ]
    assert dns.calls == ["hooks.example.com", "mixed.example.com"]  # a literal is not resolved


async def test_a_name_that_does_not_resolve_fails_cleanly() -> None:
    async def nxdomain(host: str) -> Sequence[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(InvalidRequestError, match="could not resolve") as caught:
        await fetch_public("https://gone.example.com/", max_bytes=10, timeout=5, resolver=nxdomain)
    assert caught.value.code == "fetch_failed"


async def test_dns_rebinding_connects_only_to_the_first_checked_address() -> None:
    dns = FakeDNS({"images.example.com": [[PUBLIC_IP], ["127.0.0.1"]]})
    recorder = Recorder()
    fetched = await fetch_public(
        "https://images.example.com/cat.png",
        max_bytes=10_000,
        timeout=5,
        allowed_types=IMAGE_TYPES,
        resolver=dns,
        transport=httpx.MockTransport(recorder),
    )
    assert fetched.data == PNG
    assert dns.calls == ["images.example.com"]  # no second lookup that could rebind
    [request] = recorder.requests
    assert str(request.url) == f"https://{PUBLIC_IP}/cat.png"
    assert request.headers["host"] == "images.example.com"
    assert request.extensions["sni_hostname"] == "images.example.com"
    assert fetched.final_url == "https://images.example.com/cat.png"


async def test_a_redirect_is_resolved_and_checked_again() -> None:
    dns = FakeDNS({"images.example.com": [[PUBLIC_IP], ["10.1.2.3"]]})
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(302, headers={"location": "/second.png"})

    with pytest.raises(InvalidRequestError, match="resolves to 10.1.2.3, a private address"):
        await fetch_public(
            "http://images.example.com/first.png",
            max_bytes=10_000,
            timeout=5,
            resolver=dns,
            transport=httpx.MockTransport(handler),
        )
    assert [r.url.path for r in requests] == ["/first.png"]
    assert dns.calls == ["images.example.com", "images.example.com"]


# A real HTTP server on loopback, reached through the guard with the test-only LOOPBACK policy.
HITS: list[str] = []


async def cat(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def hops(request: Request) -> Response:
    left = int(request.path_params["left"])
    return RedirectResponse(f"/hops/{left - 1}" if left > 1 else "/cat.png", status_code=302)


async def to(request: Request) -> Response:
    return RedirectResponse(request.query_params["location"], status_code=307)


async def declared_big(request: Request) -> Response:
    return Response(b"\0" * 50_000, media_type="image/png")


async def streamed_big(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b"\0" * 1000

    return StreamingResponse(chunks(), media_type="image/png")


async def gzip_bomb(request: Request) -> Response:
    body = gzip.compress(b"\0" * 2_000_000)
    return Response(body, media_type="image/png", headers={"content-encoding": "gzip"})


async def drip(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(60):
            yield b"\0"
            await asyncio.sleep(0.05)

    return StreamingResponse(chunks(), media_type="image/png")


async def stall(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(PNG, media_type="image/png")


async def page(request: Request) -> Response:
    return Response(b"<html></html>", media_type="text/html; charset=utf-8")


async def missing(request: Request) -> Response:
    return Response(b"no", status_code=404)


class RecordHits:
    """ASGI middleware that notes the Host header and path of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"])[b"host"].decode()
            HITS.append(f"{host} {scope['path']}")
        await self.app(scope, receive, send)


APP = RecordHits(
    Starlette(
        routes=[
            Route("/cat.png", cat),
            Route("/hops/{left}", hops),
            Route("/to", to),
            Route("/declared-big", declared_big),
            Route("/streamed-big", streamed_big),
            Route("/drip", drip),
            Route("/gzip-bomb", gzip_bomb),
            Route("/stall", stall),
            Route("/page.html", page),
            Route("/missing", missing),
        ]
    )
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    config = uvicorn.Config(APP, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield url


@pytest.fixture
def hits() -> list[str]:
    HITS.clear()
    return HITS


async def test_a_real_fetch_returns_the_bytes_and_type(server_url: str, hits: list[str]) -> None:
    fetched = await fetch_public(
        f"{server_url}/cat.png",
        max_bytes=10_000,
        timeout=5,
        allowed_types=["image/*"],
        policy=LOOPBACK,
    )
    assert fetched.data == PNG
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"{server_url}/cat.png"
    assert hits == [f"{server_url.removeprefix('http://')} /cat.png"]


async def test_redirects_are_followed_up_to_the_limit(server_url: str, hits: list[str]) -> None:
    fetched = await fetch_public(
        f"{server_url}/hops/{MAX_REDIRECTS}", max_bytes=10_000, timeout=5, policy=LOOPBACK
    )
    assert fetched.data == PNG
    assert fetched.final_url == f"{server_url}/cat.png"
    assert len(hits) == MAX_REDIRECTS + 1
    with pytest.raises(InvalidRequestError, match="redirected more than 5 times") as caught:
        await fetch_public(
            f"{server_url}/hops/{MAX_REDIRECTS + 1}", max_bytes=10_000, timeout=5, policy=LOOPBACK
        )
    assert caught.value.code == "fetch_failed"


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://10.0.0.1/cat.png", "a private address"),
        ("http://[::ffff:127.0.0.1]:{port}/cat.png", "a loopback address in IPv4-mapped form"),
        ("http://localhost:{port}/cat.png", "a localhost name"),
        ("http://2130706433:{port}/cat.png", "a numeric host"),
        ("http://private.example.com/cat.png", "resolves to 10.0.0.7"),
        ("file:///etc/passwd", "only http:// and https://"),
    ],
)
async def test_a_redirect_to_a_refused_target_is_refused(
    server_url: str, hits: list[str], location: str, reason: str
) -> None:
    port = server_url.rsplit(":", 1)[1]
    target = httpx.URL(f"{server_url}/to", params={"location": location.format(port=port)})
    with pytest.raises(InvalidRequestError) as caught:
        await fetch_public(
            str(target),
            max_bytes=10_000,
            timeout=5,
            policy=LOOPBACK,
            resolver=FakeDNS(dict(HOSTILE_DNS)),
        )
    assert caught.value.code == "ssrf_blocked"
    assert reason in caught.value.message
    assert [hit.split(" ")[1] for hit in hits] == ["/to"]  # the refused hop was never requested


@pytest.mark.parametrize("path", ["/declared-big", "/streamed-big"])
async def test_content_past_the_size_cap_is_refused(server_url: str, path: str) -> None:
    with pytest.raises(InvalidRequestError, match="larger than 10000 bytes") as caught:
        await fetch_public(f"{server_url}{path}", max_bytes=10_000, timeout=5, policy=LOOPBACK)
    assert caught.value.code == "too_large"
    fetched = await fetch_public(
        f"{server_url}{path}", max_bytes=50_000, timeout=5, policy=LOOPBACK
    )
    assert len(fetched.data) == 50_000


async def test_the_cap_counts_decoded_bytes(server_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="larger than 100000 bytes") as caught:
        await fetch_public(f"{server_url}/gzip-bomb", max_bytes=100_000, timeout=5, policy=LOOPBACK)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize("path", ["/stall", "/drip"])
async def test_the_total_time_is_capped(server_url: str, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidRequestError, match="longer than 0.5 s") as caught:
        await fetch_public(f"{server_url}{path}", max_bytes=10_000, timeout=0.5, policy=LOOPBACK)
    assert caught.value.code == "fetch_failed"
    assert time.monotonic() - started < 1.5  # the drip never idles long enough for a read timeout


async def test_a_content_type_not_allowed_is_refused(server_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="answered text/html") as caught:
        await fetch_public(
            f"{server_url}/page.html",
            max_bytes=10_000,
            timeout=5,
            allowed_types=IMAGE_TYPES,
            policy=LOOPBACK,
        )
    assert caught.value.code == "fetch_failed"
    assert caught.value.allowed == tuple(sorted(IMAGE_TYPES))


async def test_an_error_status_fails_the_fetch(server_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="HTTP 404") as caught:
        await fetch_public(f"{server_url}/missing", max_bytes=10_000, timeout=5, policy=LOOPBACK)
    assert caught.value.code == "fetch_failed"


async def test_loopback_stays_refused_without_the_test_policy(server_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="127.0.0.1 is a loopback address"):
        await fetch_public(f"{server_url}/cat.png", max_bytes=10_000, timeout=5)


# HTTPS: the name is checked against the certificate while the socket goes to the pinned address.
def write_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_is_pinned_to_the_checked_address_with_the_name_in_sni(
    tmp_path: Path, hits: list[str]
) -> None:
    cert_path, key_path = write_certificate(tmp_path, "images.example.com")
    config = uvicorn.Config(
        APP,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(key_path),
    )
    dns = FakeDNS({"images.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]})
    context = ssl.create_default_context(cafile=str(cert_path))
    with ThreadedServer(config).running() as url:
        port = url.rsplit(":", 1)[1]
        async with httpx.AsyncHTTPTransport(verify=context) as transport:
            fetched = await fetch_public(
                f"https://images.example.com:{port}/cat.png",
                max_bytes=10_000,
                timeout=5,
                resolver=dns,
                transport=transport,
                policy=LOOPBACK,
            )
            assert fetched.data == PNG
            assert hits == [f"images.example.com:{port} /cat.png"]
            # The same address under a name the certificate does not cover: verification fails.
            with pytest.raises(InvalidRequestError, match="ConnectError") as caught:
                await fetch_public(
                    f"https://other.example.com:{port}/cat.png",
                    max_bytes=10_000,
                    timeout=5,
                    resolver=dns,
                    transport=transport,
                    policy=LOOPBACK,
                )
            assert caught.value.code == "fetch_failed"


# Cloud metadata endpoints, in every spelling: refused first, whatever a policy allows.
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",  # AWS ECS
    "http://169.254.170.23/",  # AWS EKS Pod Identity
    "http://100.100.100.200/latest/meta-data/",  # Alibaba
    "http://168.63.129.16/machine",  # Azure WireServer: public, so only this rule refuses it
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fd00:ec2::23]/",
    "http://[fd00:ec2:0:0:0:0:0:254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::a9fe:a9fe]/",  # IPv4-compatible
    "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated (SIIT)
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[64:ff9b::169.254.169.254]/",
    "http://[2002:a9fe:a9fe::]/",  # 6to4
    "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",  # Teredo, client 169.254.169.254
    "http://[2001:db8:64::a9fe:a9fe]/",  # a network-specific NAT64 /96
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0xA9FEA9FE/",
    "http://0251.0376.0251.0376/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.Google.Internal/",
    "http://metadata.google.internal./",
    "http://169.254.169.254./",
    "http://%31%36%39.254.169.254/",
    "http://metadata%2egoogle%2einternal/",
    "http://metadata.goog/",
    "http://instance-data/",
]
ALLOW_ALL = Policy(allow=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
POLICIES = {
    "public only": Policy(),
    "private": PRIVATE_TARGETS,
    "all": ALLOW_ALL,
    "loopback": LOOPBACK,
}


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize("url", METADATA_URLS)
async def test_metadata_is_refused_in_every_spelling_under_every_policy(
    url: str, policy: Policy
) -> None:
    dns, recorder = FakeDNS(), Recorder()
    await _refused(url, dns, recorder, policy)
    assert dns.calls == [] and recorder.requests == []


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize(
    "answer", ["169.254.169.254", "fd00:ec2::254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe"]
)
async def test_a_name_resolving_to_metadata_is_refused_under_every_policy(
    answer: str, policy: Policy
) -> None:
    dns = FakeDNS({"hooks.example.com": [answer]})
    with pytest.raises(InvalidRequestError, match="cloud metadata") as caught:
        await resolve_checked("hooks.example.com", resolver=dns, policy=policy)
    assert caught.value.code == "ssrf_blocked"


def test_allowances_still_allow_what_they_name() -> None:
    assert check_url("http://[fd00:1::5]/", policy=PRIVATE_TARGETS).address is not None
    assert check_url("http://10.0.0.7/", policy=PRIVATE_TARGETS).address is not None
    assert check_url("http://169.254.1.1/", policy=ALLOW_ALL).address is not None


def test_a_numeric_spelling_of_metadata_is_named_as_such() -> None:
    with pytest.raises(InvalidRequestError, match=r"is 169\.254\.169\.254, a cloud metadata"):
        check_url("http://0xa9fea9fe/")
