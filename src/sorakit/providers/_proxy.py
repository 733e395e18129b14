"""An outbound proxy per provider (`SORAKIT_PROXIES`): checked before any client is built.

A provider reads its proxy only as `settings.proxies.get(<provider name>)` (a pooled credential
may carry its own, handed in as a copy of the settings) and gives it to every HTTP client it
opens: API calls, SDK transports and media downloads alike, since an operator sets a proxy when
direct egress is blocked. httpx speaks `http://` and `https://` proxies (CONNECT for https
targets, absolute-form for http ones) and, with `socksio`, `socks5://` (`socks5h://` too: the
proxy resolves the name either way). Credentials travel in the URL (`http://user:pass@host:3128`)
and are sent as `Proxy-Authorization` or SOCKS5 username/password; `redact` is the only form of
the URL that may reach a message or a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping

import httpx

from sorakit.errors import ConfigurationError

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
"""The proxy schemes httpx can speak."""
_SOCKS_AUTH = re.compile(r"\bauth=\(.*\)")


class _MaskSocksAuth(logging.Filter):
    """httpcore's debug trace of a SOCKS5 handshake prints `auth=(b'user', b'password')`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "auth=(" in record.msg:
            record.msg = _SOCKS_AUTH.sub("auth=***", record.msg)
        return True


_socks_logger = logging.getLogger("httpcore.socks")
if not any(isinstance(f, _MaskSocksAuth) for f in _socks_logger.filters):
    _socks_logger.addFilter(_MaskSocksAuth())


def redact(proxy: str) -> str:
    """The proxy URL with its password masked (`http://user:***@host:3128`), fit for a log line."""
    scheme, sep, rest = proxy.partition("://")
    if not sep or "@" not in rest:
        return proxy
    userinfo, _, host = rest.rpartition("@")  # the last `@`: a password may hold one unescaped
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def checked_proxy(proxy: str | None, provider: str, *, where: str | None = None) -> str | None:
    """The proxy URL, or None for none; anything httpx could not use is a `ConfigurationError`
    whose message names `where` (`SORAKIT_PROXIES[provider]` unless given)."""
    if proxy is None or not proxy.strip():
        return None
    shown = redact(proxy)
    where = where or f"SORAKIT_PROXIES[{provider!r}]"
    try:
        url = httpx.URL(proxy.strip())
    except (httpx.InvalidURL, TypeError):  # its message may quote the password: not kept
        raise ConfigurationError(f"{where} is not a valid URL: {shown!r}") from None
    if url.scheme not in PROXY_SCHEMES:
        raise ConfigurationError(
            f"{where} must be an http://, https:// or socks5:// proxy URL such as "
            f"socks5://10.0.0.2:1080, not {shown!r}"
        )
    if not url.host:
        raise ConfigurationError(f"{where} names no proxy host: {shown!r}")
    if url.port is not None and not 0 < url.port < 65536:
        raise ConfigurationError(f"{where} has no valid port: {shown!r}")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ConfigurationError(f"{where} must be scheme://[user:password@]host:port: {shown!r}")
    return str(url)


def check_proxies(proxies: Mapping[str, str], providers: Collection[str]) -> None:
    """Refuse at start-up a `SORAKIT_PROXIES` entry for no provider, or one httpx cannot use."""
    for name, proxy in proxies.items():
        if name not in providers:
            known = ", ".join(sorted(providers))
            raise ConfigurationError(
                f"SORAKIT_PROXIES names {name!r}, which is no provider; known providers: {known}"
            )
        checked_proxy(proxy, name)
