"""`/mcp` on `sorakit serve`: the MCP server over streamable HTTP, one tenant key per request.

The SDK's own session manager serves the protocol; in front of it one ASGI step authenticates
the bearer token with the gateway's `Gatekeeper` (the same keys, cache and open mode as `/v1`),
answers 401 in the OpenAI error envelope when it is refused, and hands the `Principal` to the
tools on the request's scope. The key is also set as the SDK's authenticated user, so the SDK
binds each MCP session to the key that opened it (another key's requests on it are not found).
The server borrows the app's engine, supervisor and pipeline runs, and the app's lifespan runs
the session manager (`running`).
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sorakit.errors import AuthenticationError
from sorakit.gateway.auth import Gatekeeper
from sorakit.mcp.access import PRINCIPAL_STATE
from sorakit.mcp.server import Services, build_server
from sorakit.settings import Settings

MCP_PATH = "/mcp"


class McpEndpoint:
    """The ASGI endpoint at `/mcp`: authenticate, then hand over to the SDK's session manager."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.host = settings.host
        self.server: MCPServer[None] = build_server(settings, services=self._services)

    def _services(self) -> Services:
        state = self.app.state
        return Services(state.engine, state.supervisor, state.pipelines, state.gatekeeper)

    def running(self) -> AbstractAsyncContextManager[None]:
        """A session manager's run, for the app's lifespan (after its state is set).

        A manager runs once, so each lifespan gets a new one (an app may be started again).
        It is the SDK's, with its DNS-rebinding guard on a loopback host; the Starlette app
        that builds it is not used: this endpoint is the route."""
        self.server.streamable_http_app(streamable_http_path=MCP_PATH, host=self.host)
        return self.server.session_manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gatekeeper: Gatekeeper = self.app.state.gatekeeper
        try:
            principal = await gatekeeper.principal(Headers(scope=scope).get("authorization"))
        except AuthenticationError as exc:
            await _refused(exc.message, send)
            return
        state = scope.setdefault("state", {})
        state[PRINCIPAL_STATE] = principal
        if principal.key is not None:
            state["key_id"] = principal.key.id  # the request log's, as `/v1` notes it
            token = AccessToken(token=principal.key.id, client_id=principal.key.id, scopes=[])
            scope["user"] = AuthenticatedUser(token)
        await self.server.session_manager.handle_request(scope, receive, send)


async def _refused(message: str, send: Send) -> None:
    """401 in the OpenAI error envelope, as `/v1` answers a missing or wrong key."""
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mount(app: Any, settings: Settings) -> McpEndpoint:
    """Add `/mcp` to `app` (a FastAPI or Starlette app whose lifespan sets the engine's state
    and enters `running()`)."""
    endpoint = McpEndpoint(app, settings)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, include_in_schema=False))
    return endpoint
