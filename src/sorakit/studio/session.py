"""The studio's session: a signed cookie, and a CSRF token tied to it.

The server keeps no per-browser state. The cookie holds a random nonce and the tenant API key
the person signed in with, sealed (Fernet: encrypted, so a logged Cookie header reveals no API
key) and signed with its expiry by the link signer, both keyed from one key made once in
SORAKIT_HOME (`studio.key`), so any `serve` process sharing the home reads it. Every request
checks the key again through the gateway's `Gatekeeper`, the same auth the API uses: a revoked
key ends the session once the gatekeeper's short cache lapses. The CSRF token is an HMAC of the
nonce, so it is valid only with the cookie it was made for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from sorakit.engine.callbacks import load_key
from sorakit.errors import AuthenticationError, ConfigurationError, PermissionDeniedError
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.links import LinkSigner
from sorakit.security.secretbox import SecretBox
from sorakit.settings import Settings

COOKIE_NAME = "sorakit_studio"
SESSION_SECONDS = 7 * 24 * 3600.0
"""How long a sign-in lasts."""
CSRF_FIELD = "csrf_token"
"""The hidden field every studio form carries."""


@dataclass(frozen=True)
class Session:
    """One browser's session: its nonce and, once signed in, its API key."""

    nonce: str
    api_key: str | None = None
    project: str | None = None
    """The active project's name (the budget page picks it); new jobs count against it."""

    @classmethod
    def new(cls, api_key: str | None = None) -> Session:
        return cls(secrets.token_urlsafe(16), api_key)


class SessionCookies:
    """Writes and reads signed session cookies, and makes and checks CSRF tokens."""

    def __init__(self, key: bytes) -> None:
        self._signer = LinkSigner(key, ttl=SESSION_SECONDS)
        self._box = SecretBox(hashlib.sha256(b"studio-session:" + key).hexdigest())

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCookies:
        return cls(load_key(settings.home / "studio.key"))

    def encode(self, session: Session) -> str:
        fields = {"n": session.nonce, "k": session.api_key}
        if session.project is not None:  # absent from older cookies, which stay valid
            fields["p"] = session.project
        payload = self._box.seal(json.dumps(fields)).rstrip("=")  # `=` would need quoting
        expires = int(time.time() + self._signer.ttl)
        return f"{payload}.{expires}.{self._signer.signature(payload, expires)}"

    def decode(self, value: str | None) -> Session | None:
        """The session in a cookie, or None when it is absent, forged or expired."""
        payload, _, rest = (value or "").partition(".")
        expires, _, signature = rest.partition(".")
        if not payload or not expires.isdigit():
            return None
        if self._signer.verify(payload, int(expires), signature) is not None:
            return None
        try:
            fields: Any = json.loads(self._box.open(payload + "=" * (-len(payload) % 4)))
        except (ConfigurationError, ValueError):
            return None
        if not isinstance(fields, dict) or not isinstance(fields.get("n"), str):
            return None
        key, project = fields.get("k"), fields.get("p")
        return Session(
            fields["n"],
            key if isinstance(key, str) else None,
            project if isinstance(project, str) else None,
        )

    def csrf_token(self, session: Session) -> str:
        return self._signer.signature(f"csrf:{session.nonce}", 0)

    def check_csrf(self, session: Session | None, token: str | None) -> None:
        """Refuse a form whose CSRF token is missing or made for another session."""
        expected = self.csrf_token(session).encode() if session is not None else b""
        given = (token or "").encode("utf-8", "replace")
        if not expected or not hmac.compare_digest(expected, given):
            raise PermissionDeniedError(
                "This form has expired or did not come from this studio; reload the page and "
                "try again.",
                param=CSRF_FIELD,
            )

    def set(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.encode(session),
            max_age=int(SESSION_SECONDS),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")


def cookies_of(request: Request) -> SessionCookies:
    """The app's session cookies, made on first use (their key lives in SORAKIT_HOME)."""
    cookies: SessionCookies | None = getattr(request.app.state, "studio_cookies", None)
    if cookies is None:
        settings: Settings = request.app.state.settings
        cookies = request.app.state.studio_cookies = SessionCookies.from_settings(settings)
    return cookies


def session_of(request: Request) -> Session | None:
    return cookies_of(request).decode(request.cookies.get(COOKIE_NAME))


async def principal_for(request: Request, session: Session | None) -> Principal | None:
    """The caller behind a session, checked by the API's own gatekeeper; None when refused.

    With no tenant key the gateway is open (loopback only), and so is the studio.
    """
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    api_key = session.api_key if session is not None else None
    try:
        principal = await gatekeeper.principal(f"Bearer {api_key}" if api_key else None)
    except AuthenticationError:
        return None
    if principal.key is not None:
        request.state.key_id = principal.key.id  # for the request log, as the API notes it
    return principal
