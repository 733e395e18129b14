"""An outbound proxy per provider (`SORAKIT_PROXIES`): every call of a real job goes through it.

Each provider is built by `from_settings` with `proxies={name: url}` and runs one job against its
fake, served over real HTTP(S) on loopback under names (`queue.fal.test`, `api.runway.test`, ...)
that only the proxies in `_proxies` resolve. The proxy's log must name the fake's hosts, and every
client port the fake saw must be one the proxy dialled from: nothing reached it directly.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import google.auth
import pytest
from google.oauth2.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sorakit.errors import ConfigurationError, ProviderConnectionError
from sorakit.providers.base import Provider, RemoteJob, SubmitRequest
from sorakit.providers.fal import FalProvider
from sorakit.providers.google import GeminiProvider, VertexVeoProvider
from sorakit.providers.openai import OpenAIProvider
from sorakit.providers.runway import RunwayProvider
from sorakit.server import create_app
from sorakit.settings import Settings, get_settings
from tests.providers import test_google, test_runway
from tests.providers._proxies import (
    Certificates,
    ClientRecorder,
    HandlerApp,
    HttpProxy,
    Proxy,
    Socks5Proxy,
    certificates,
    serving,
)
from tests.providers.fal_fake import API, QUEUE, FakeFalQueue, body_of, generate
from tests.providers.google_fake import FakeGoogle
from tests.providers.runway_fake import API_HOST, CDN_HOST, FakeRunwayAPI

NAMES = [
    "queue.fal.test",
    "media.fal.test",
    "api.fal.test",
    "api.runway.test",
    "cdn.runway.test",
    "gemini.google.test",
    "vertex.google.test",
    "storage.google.test",
    "oauth.google.test",
    "videos.openai.test",
]
PROXIES: dict[str, type[Proxy]] = {"http": HttpProxy, "socks5": Socks5Proxy}
OUTPUT = "gs://sorakit-out/veo/renders/"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return certificates(tmp_path_factory.mktemp("tls"), NAMES)


@pytest.fixture
def trusted(tls: Certificates, monkeypatch: pytest.MonkeyPatch) -> Certificates:
    """The fakes' CA, trusted by every httpx client built from now on (as a corporate CA is)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    return tls


def assert_all_proxied(proxy: Proxy, fake: ClientRecorder, hosts: set[str]) -> None:
    """The proxy dialled the fake's hosts, and the fake saw no client the proxy did not dial."""
    assert proxy.connections, "nothing went through the proxy"
    assert {host for host, _ in proxy.targets()} == hosts
    assert fake.clients, "the fake saw no request"
    assert fake.ports() <= proxy.local_ports(), (fake.ports(), proxy.local_ports())
    assert proxy.refused == []


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- fal: http:// targets (absolute-form through an HTTP proxy) ------------------------------


@pytest.mark.parametrize(
    ("kind", "auth"), [("http", ("bob", "pr0xy-pw")), ("socks5", None), ("socks5", ("al", "pw"))]
)
async def test_a_fal_job_goes_through_the_proxy(
    kind: str, auth: tuple[str, str] | None, mp4: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    queue = FakeFalQueue(mp4)
    fake = ClientRecorder(HandlerApp(queue.handle))
    try:
        with serving(fake) as address:
            routes = {name: address for name in NAMES if name.endswith(".fal.test")}
            async with PROXIES[kind](routes=routes, auth=auth) as proxy:
                url = proxy.url(*auth) if auth else proxy.url()
                settings = get_settings(
                    fal_key=queue.key, fal_queue_url=QUEUE, fal_api_url=API, proxies={"fal": url}
                )
                provider = FalProvider.from_settings(settings)
                try:
                    job = await provider.submit(generate())
                    queue.advance(queue.queue_seconds + queue.render_seconds + 1)
                    assert (await provider.retrieve(job.id)).status == "completed"
                    assert await body_of(provider, job.id) == mp4
                finally:
                    await provider.aclose()
    finally:
        queue.close()
    assert_all_proxied(proxy, fake, {"queue.fal.test", "media.fal.test", "api.fal.test"})
    kinds = {c.kind for c in proxy.connections}
    assert kinds == ({"forward"} if kind == "http" else {"socks5"})
    assert {c.port for c in proxy.connections} == {80}
    if auth:
        assert set(proxy.users) == {auth[0]}
        assert auth[1] not in caplog.text  # not even httpcore's trace of the SOCKS handshake
    assert {r.url.host for r in queue.seen} >= {"queue.fal.test", "media.fal.test"}


# -- openai: a real `sorakit serve` over https (CONNECT tunnels, SOCKS5) ---------------------


@pytest.fixture
def gateway(settings: Settings, trusted: Certificates) -> Iterator[tuple[ClientRecorder, Any]]:
    """`sorakit serve` (with the simulator) over TLS on loopback."""
    app = ClientRecorder(create_app(settings))
    with serving(app, tls=trusted, lifespan="on") as address:
        yield app, address


async def _finish(provider: Provider, job: RemoteJob) -> RemoteJob:
    for _ in range(200):
        job = await provider.retrieve(job.id)
        if job.status in ("completed", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"{job.id} did not finish")


@pytest.mark.parametrize(("kind", "auth"), [("http", None), ("socks5", ("alice", "s3cr3t!"))])
async def test_an_openai_job_goes_through_the_proxy(
    kind: str,
    auth: tuple[str, str] | None,
    gateway: tuple[ClientRecorder, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server, address = gateway
    async with PROXIES[kind](routes={"videos.openai.test": address}, auth=auth) as proxy:
        url = proxy.url(*auth) if auth else proxy.url()
        settings = get_settings(
            openai_base_url="https://videos.openai.test/v1", proxies={"openai": url}
        )
        provider = OpenAIProvider.from_settings(settings)
        try:
            request = SubmitRequest(
                kind="generate",
                model="sora-2",
                prompt="a lighthouse at dusk",
                seconds=4,
                size="1280x720",
                idempotency_key="proxy-1",
            )
            job = await _finish(provider, await provider.submit(request))
            assert job.status == "completed", job
            async with provider.download(job.id) as download:
                data = b"".join([chunk async for chunk in download.chunks])
        finally:
            await provider.aclose()
    assert data[4:8] == b"ftyp" and len(data) > 1000
    assert_all_proxied(proxy, server, {"videos.openai.test"})
    assert {(c.kind, c.port) for c in proxy.connections} == {
        ("CONNECT" if kind == "http" else "socks5", 443)
    }
    if auth:
        assert set(proxy.users) == {auth[0]} and auth[1] not in caplog.text


# -- runway: the SDK's client and the CDN download, over https --------------------------------


async def test_a_runway_job_goes_through_the_proxy(tmp_path: Path, trusted: Certificates) -> None:
    api = FakeRunwayAPI(workdir=tmp_path / "fake")
    fake = ClientRecorder(HandlerApp(api.handle))
    with serving(fake, tls=trusted) as address:
        async with HttpProxy(routes={API_HOST: address, CDN_HOST: address}) as proxy:
            settings = get_settings(
                runway_api_secret=api.api_secret,
                runway_base_url=f"https://{API_HOST}",
                proxies={"runway": proxy.url()},
            )
            provider = RunwayProvider.from_settings(settings)
            try:
                job = await provider.submit(test_runway.generate())
                api.advance(60)
                assert (await provider.retrieve(job.id)).status == "completed"
                data, size = await test_runway.read_all(provider, job.id)
            finally:
                await provider.aclose()
    assert size == len(data) and data == api.video(job.id.rsplit("|", 1)[1])
    assert_all_proxied(proxy, fake, {API_HOST, CDN_HOST})
    assert {(c.kind, c.port) for c in proxy.connections} == {("CONNECT", 443)}


# -- Google: the SDK's async client, the Files download, Cloud Storage, OAuth -----------------


@pytest.fixture
def google_fake(
    tmp_path: Path, trusted: Certificates
) -> Iterator[tuple[FakeGoogle, ClientRecorder, Any]]:
    (tmp_path / "fake").mkdir()
    fake = FakeGoogle(tmp_path / "fake")
    token_app = Starlette(routes=[Route("/token", _token_endpoint(fake), methods=["POST"])])
    recorder = ClientRecorder(Starlette(routes=[Mount("/oauth", token_app), Mount("/", fake.app)]))
    with serving(recorder, tls=trusted) as address:
        yield fake, recorder, address


def _token_endpoint(fake: FakeGoogle) -> Any:
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        fake.requests.append(("POST", "/oauth/token", dict(form)))
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != "1//refresh":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        body = {"access_token": fake.access_token, "expires_in": 3600, "token_type": "Bearer"}
        return JSONResponse(body)

    return token


async def test_a_gemini_job_goes_through_the_proxy(
    google_fake: tuple[FakeGoogle, Any, Any],
) -> None:
    fake, recorder, address = google_fake
    async with HttpProxy(routes={"gemini.google.test": address}) as proxy:
        settings = get_settings(
            gemini_api_key=fake.api_key,
            gemini_base_url="https://gemini.google.test",
            proxies={"gemini": proxy.url()},
        )
        async with test_google._opened(GeminiProvider.from_settings(settings)) as gemini:
            request = test_google._request()
            job = await gemini.submit(request)
            await test_google._complete(fake, gemini, job)
            data = await test_google._read(gemini, job.id)
    assert test_google._probe(data)[:2] == (640, 360)
    paths = [path for _, path, _ in fake.requests]
    assert any("/files/" in path for path in paths)  # the download went the same way
    assert_all_proxied(proxy, recorder, {"gemini.google.test"})
    assert {(c.kind, c.port) for c in proxy.connections} == {("CONNECT", 443)}


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_a_vertex_job_goes_through_the_proxy_with_its_token_refresh_and_storage(
    kind: str, google_fake: tuple[FakeGoogle, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, recorder, address = google_fake
    adc = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="1//refresh",
        client_id="client.apps.googleusercontent.com",
        client_secret="client-secret",
        token_uri="https://oauth.google.test/oauth/token",
    )
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (adc, fake.project))
    hosts = {"vertex.google.test", "storage.google.test", "oauth.google.test"}
    async with PROXIES[kind](routes=dict.fromkeys(hosts, address)) as proxy:
        settings = get_settings(
            vertex_project=fake.project,
            vertex_base_url="https://vertex.google.test",
            vertex_output_gcs_uri=OUTPUT,
            gcs_base_url="https://storage.google.test",
            proxies={"vertex": proxy.url()},
        )
        async with test_google._opened(VertexVeoProvider.from_settings(settings)) as vertex:
            job = await vertex.submit(test_google._veo())
            await test_google._complete(fake, vertex, job)
            data = await test_google._read(vertex, job.id)
    assert test_google._probe(data)[:2] == (1280, 720)
    assert adc.token == fake.access_token
    assert fake.gcs.raw_paths and [p for _, p, _ in fake.requests].count("/oauth/token") == 1
    assert_all_proxied(proxy, recorder, hosts)


# -- failures --------------------------------------------------------------------------------

_LIVE = ("fal", "openai", "runway", "gemini", "vertex")


def _settings(name: str, proxy: str) -> Settings:
    fields: dict[str, dict[str, Any]] = {
        "fal": {"fal_key": "id:secret", "fal_queue_url": "https://queue.fal.test/"},
        "openai": {"openai_base_url": "https://videos.openai.test/v1", "openai_api_key": "sk-x"},
        "runway": {"runway_api_secret": "key_x", "runway_base_url": "https://api.runway.test"},
        "gemini": {"gemini_api_key": "gk", "gemini_base_url": "https://gemini.google.test"},
        "vertex": {
            "vertex_project": "p",
            "vertex_access_token": "ya29.x",
            "vertex_base_url": "https://vertex.google.test",
        },
    }
    return get_settings(proxies={name: proxy}, **fields[name])


_CLASSES: dict[str, Any] = {  # each with its `from_settings`
    "fal": FalProvider,
    "openai": OpenAIProvider,
    "runway": RunwayProvider,
    "gemini": GeminiProvider,
    "vertex": VertexVeoProvider,
}
_IDS = {
    "openai": "video_1",
    "runway": "gen4.5|1280x720|2|task-1",
    "gemini": "gemini-omni-1.2-flash|640x360|3|v1_1",
    "vertex": "1280x720|4|1.000|projects/p/locations/us-central1/publishers/google/models/"
    "veo-3.1-generate-001/operations/op-1",
}


@pytest.fixture
async def provider_of() -> AsyncIterator[Any]:
    opened: list[Provider] = []

    def build(name: str, proxy: str) -> Provider:
        provider: Provider = _CLASSES[name].from_settings(_settings(name, proxy))
        opened.append(provider)
        return provider

    yield build
    for provider in opened:
        await provider.aclose()


@pytest.mark.parametrize("scheme", ["http", "socks5"])
@pytest.mark.parametrize("name", _LIVE)
async def test_a_proxy_that_refuses_connections_is_a_transient_connection_error(
    name: str, scheme: str, provider_of: Any
) -> None:
    provider = provider_of(name, f"{scheme}://user:hunter2@127.0.0.1:{closed_port()}")
    with pytest.raises(ProviderConnectionError) as caught:
        if name == "fal":  # a submit: fal-client retries a status call's connection for ~30 s
            await provider.submit(generate())
        else:
            await provider.retrieve(_IDS[name])
    assert caught.value.transient and caught.value.provider == name
    assert "hunter2" not in str(caught.value)


# HTTP only: httpcore 1.0.9 leaves the socket of a failed SOCKS5 handshake to the garbage
# collector, whose ResourceWarning would then fail whichever test runs next.
@pytest.mark.parametrize("kind", ["http"])
@pytest.mark.parametrize(
    "name",
    [
        "fal",
        "openai",
        "runway",
        "gemini",
        "vertex",
    ],
)
async def test_a_proxy_that_cannot_reach_the_host_is_a_transient_connection_error(
    name: str, kind: str, provider_of: Any
) -> None:
    async with PROXIES[kind]() as proxy:  # no routes: the proxy can reach no fake name
        provider = provider_of(name, proxy.url())
        with pytest.raises(ProviderConnectionError):
            if name == "fal":
                await provider.submit(generate())
            else:
                await provider.retrieve(_IDS[name])
    assert proxy.refused and not proxy.connections


@pytest.mark.parametrize(
    "proxy",
    [
        "ftp://user:hunter2@10.0.0.2:21",
        "socks4://10.0.0.2:1080",
        "http://user:hunter2@10.0.0.2:99999",
        "http://user:hunter2@10.0.0.2:3128/path",
        "http://user:hunter2@[::1:3128",
        "socks5://:1080",
        "10.0.0.2:1080",
    ],
)
@pytest.mark.parametrize("name", _LIVE)
def test_a_bad_proxy_url_is_a_configuration_error_naming_the_setting(name: str, proxy: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _CLASSES[name].from_settings(_settings(name, proxy))
    message = str(caught.value)
    assert "SORAKIT_PROXIES" in message and repr(name) in message
    assert "hunter2" not in message


def test_only_the_providers_own_proxy_is_used() -> None:
    settings = get_settings(
        fal_key="id:secret", runway_api_secret="key_x", proxies={"runway": "ftp://nope"}
    )
    FalProvider.from_settings(settings)  # another provider's bad proxy is not fal's concern
    with pytest.raises(ConfigurationError, match="runway"):
        RunwayProvider.from_settings(settings)


def test_settings_read_the_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SORAKIT_PROXIES", '{"fal": "socks5://u:p@10.0.0.2:1080"}')
    assert get_settings().proxies == {"fal": "socks5://u:p@10.0.0.2:1080"}
