"""Two real proxies on loopback, and what the proxy tests serve the providers' fakes with.

`HttpProxy` forwards absolute-form requests for `http://` targets and tunnels `CONNECT` for
`https://` ones (optionally asking for Basic `Proxy-Authorization`); `Socks5Proxy` speaks RFC 1928
with no authentication or RFC 1929 username/password. Both resolve names only through their own
`routes` table (`queue.fal.test` -> the fake's loopback port), as a proxy at the edge of a network
does: the fakes' names resolve nowhere else, so a request that reached a fake came through a
proxy. Each records every connection it made (the target asked for, and the local port it dialled
from), which the fakes' own view of their clients (`ClientRecorder`) must match.

The fakes are served over real HTTP(S) by uvicorn: an httpx `MockTransport` handler through
`HandlerApp`, an ASGI app as it is, TLS with a certificate from a throwaway CA (`certificates`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import inspect
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import ThreadedServer

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Connection:
    """One outbound connection a proxy made for a client."""

    kind: str
    """`CONNECT`, `forward` (an absolute-form request) or `socks5`."""
    host: str
    port: int
    local_port: int
    """The port the proxy dialled from: the client port the fake sees."""


@dataclass
class Proxy:
    """What both proxies share: the routes, the log, the listening socket, the byte pump."""

    routes: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Name -> (address, port) this proxy resolves; IP literals are dialled as they are."""
    auth: tuple[str, str] | None = None
    connections: list[Connection] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Why clients were turned away (a wrong password, an unknown name)."""
    users: list[str] = field(default_factory=list)
    """The user names clients authenticated as."""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    scheme = "http"

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy URL, with credentials when given."""
        creds = f"{user}:{password}@" if user is not None else ""
        return f"{self.scheme}://{creds}127.0.0.1:{self.port}"

    def targets(self) -> set[tuple[str, int]]:
        return {(c.host, c.port) for c in self.connections}

    def local_ports(self) -> set[int]:
        return {c.local_port for c in self.connections}

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # closing the proxy: a task asyncio reports if cancelled
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def dial(
        self, kind: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Open the upstream connection, or None when the name is unknown or it is refused."""
        address = self.routes.get(host)
        if address is None:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                self.refused.append(f"unknown host {host}")
                return None
            address = (host, port)
        try:
            up_reader, up_writer = await asyncio.open_connection(*address)
        except OSError as exc:
            self.refused.append(f"{host}:{port}: {exc}")
            return None
        local = up_writer.get_extra_info("sockname")[1]
        self.connections.append(Connection(kind, host, port, local))
        return up_reader, up_writer

    @staticmethod
    async def pump(
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        """Copy bytes both ways until either side closes, then close both."""

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()

        tasks = [
            asyncio.ensure_future(copy(client[0], upstream[1])),
            asyncio.ensure_future(copy(upstream[0], client[1])),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            upstream[1].close()  # first, before any await a closing proxy could cancel
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class HttpProxy(Proxy):
    """An HTTP/1.1 proxy: `CONNECT host:port` tunnels and absolute-form `http://` forwarding."""

    scheme = "http"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines if line]
        if not self._authorized(headers):
            self.refused.append("no or wrong Proxy-Authorization")
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await self.dial("CONNECT", host.strip("[]"), int(port))
            if upstream is None:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self.pump((reader, writer), upstream)
            return
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        upstream = await self.dial("forward", url.hostname, url.port or 80)
        if upstream is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        hop = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}
        kept = [f"{name}: {value}" for name, value in headers if name.lower() not in hop]
        # One request per upstream connection: the origin closes after answering, which ends the
        # pump, and its `Connection: close` keeps the client from reusing this one.
        forwarded = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
        upstream[1].write(forwarded.encode("latin-1"))
        await self.pump((reader, writer), upstream)

    def _authorized(self, headers: list[tuple[str, ...]]) -> bool:
        if self.auth is None:
            return True
        sent = next((h[1] for h in headers if h[0].lower() == "proxy-authorization"), "")
        scheme, _, encoded = sent.partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        if (user, password) != self.auth:
            return False
        self.users.append(user)
        return True


class Socks5Proxy(Proxy):
    """A SOCKS5 proxy (RFC 1928, CONNECT only) with no auth or username/password (RFC 1929)."""

    scheme = "socks5"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 0x02 if self.auth is not None else 0x00
        if version != 5 or wanted not in methods:
            self.refused.append(f"no acceptable method in {list(methods)}")
            writer.write(b"\x05\xff")
            await writer.drain()
            return
        writer.write(bytes([5, wanted]))
        await writer.drain()
        if wanted == 0x02 and not await self._authenticate(reader, writer):
            return
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            await self._reply(writer, 8)  # address type not supported
            return
        port = int.from_bytes(await reader.readexactly(2), "big")
        if command != 1:
            await self._reply(writer, 7)  # command not supported
            return
        upstream = await self.dial("socks5", host, port)
        if upstream is None:
            await self._reply(writer, 4)  # host unreachable
            return
        bound = upstream[1].get_extra_info("sockname")
        await self._reply(writer, 0, bound[1])
        await self.pump((reader, writer), upstream)

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        _, length = await reader.readexactly(2)
        user = (await reader.readexactly(length)).decode()
        password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        ok = (user, password) == self.auth
        writer.write(bytes([1, 0 if ok else 1]))
        await writer.drain()
        if ok:
            self.users.append(user)
        else:
            self.refused.append(f"wrong password for {user}")
        return ok

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, code: int, port: int = 0) -> None:
        writer.write(bytes([5, code, 0, 1, 127, 0, 0, 1]) + port.to_bytes(2, "big"))
        await writer.drain()


# -- the fakes, served for real --------------------------------------------------------------


class ClientRecorder:
    """An ASGI app wrapped to record each HTTP client's `(address, port)`, as the fake sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.clients: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            self.clients.append((scope["client"][0], scope["client"][1]))
        await self.app(scope, receive, send)

    def ports(self) -> set[int]:
        return {port for _, port in self.clients}


class HandlerApp:
    """An httpx `MockTransport` handler (a fake's `handle`) as an ASGI app."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host = next(v for k, v in headers if k == "host")
        query = scope["query_string"].decode("latin-1")
        url = f"{scope['scheme']}://{host}{scope['raw_path'].decode('latin-1')}"
        request = httpx.Request(
            scope["method"], url + (f"?{query}" if query else ""), headers=headers, content=body
        )
        answer = self.handler(request)
        response = await answer if inspect.isawaitable(answer) else answer
        content = await response.aread()
        skip = {"content-length", "transfer-encoding", "content-encoding"}
        out = [(k.encode(), v.encode()) for k, v in response.headers.multi_items() if k not in skip]
        out.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": content})


@contextlib.contextmanager
def serving(
    app: Any, *, tls: Certificates | None = None, lifespan: Literal["on", "off"] = "off"
) -> Iterator[tuple[str, int]]:
    """Serve an ASGI app on a free loopback port (over TLS with `tls`); yields its address."""
    extra: dict[str, Any] = {}
    if tls is not None:
        extra = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan, **extra
    )
    with ThreadedServer(config).running() as url:
        yield "127.0.0.1", int(url.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA (`ca`, for `SSL_CERT_FILE`) and a server certificate for the fakes' names."""

    ca: Path
    cert: Path
    key: Path


def certificates(directory: Path, names: list[str]) -> Certificates:
    """Make a CA and a certificate it signs for `names` (and 127.0.0.1), as PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sorakit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
