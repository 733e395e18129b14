"""Secrets never reach a log line whole, whichever logger writes them."""

from __future__ import annotations

import io
import logging

import pytest

from sorakit.logs import RedactingFormatter, default_log_config, redact

SECRETS = [
    ("Authorization: Bearer sk-sorakit-0123456789ab-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKl"),
    ("sk-sorakit-0123456789ab-AbCdEfGhIjKlMnOpQrStUvWx in a message", "AbCdEfGhIjKl"),
    ("GET /callbacks/video_1?token=3f1c0a9b8e7d6c5b4a39 HTTP/1.1", "3f1c0a9b8e7d"),
    ("fal said 401 for Key 0f3c9a1e-1111-2222:aa55bb66cc77dd88", "aa55bb66cc77"),
    ("OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOp", "AbCdEfGhIjKl"),
    ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqr"),
    ("https://cdn.example.com/x.mp4?_jwt=eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJI"),
    ("gemini key AIzaSyA1234567890abcdefghij", "SyA123456789"),
]


@pytest.mark.parametrize(("line", "secret"), SECRETS)
def test_redact_drops_the_secret(line: str, secret: str) -> None:
    out = redact(line)
    assert "[redacted]" in out and secret not in out


def test_ordinary_lines_are_left_alone() -> None:
    line = "job video_9f2c0d1e2f3a4b5c completed in 12.5 s (sora-2, 1280x720), keyframes 3"
    assert redact(line) == line


def test_the_installed_handlers_redact_every_logger() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(name)s: %(message)s"))
    logger = logging.getLogger("uvicorn.access.test")
    logger.addHandler(handler)
    try:
        logger.warning("%s", SECRETS[0][0])
        logger.warning("failed: %r", {"api_key": "sk-sorakit-0123456789ab-ZZZZZZZZZZZZZZZZZZZ"})
    finally:
        logger.removeHandler(handler)
    assert "AbCdEfGh" not in stream.getvalue() and "ZZZZZZZZ" not in stream.getvalue()
    assert default_log_config()["formatters"]["plain"]["()"] is RedactingFormatter


def test_a_remembered_secret_of_no_known_shape_is_redacted_by_value() -> None:
    from sorakit.logs import remember_secret

    line = "upstream said 401 for account plainvalue42xyz on proxy"
    assert redact(line) == line
    remember_secret("plainvalue42xyz")
    remember_secret("abc")  # too short to be told from ordinary words: ignored
    assert redact(line) == "upstream said 401 for account [redacted] on proxy"
    assert redact("abc def") == "abc def"


def test_a_password_in_a_url_is_redacted() -> None:
    out = redact("connecting through socks5://bob:hunter2-pass@10.0.0.2:1080 to fal")
    assert "hunter2" not in out and "socks5://bob:[redacted]@10.0.0.2:1080" in out
