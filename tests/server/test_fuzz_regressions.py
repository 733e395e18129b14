"""What schemathesis (test_openapi_fuzz) and the probes around it found, pinned one by one.

Each request here once answered a 500 (or, for a 4xx, an answer outside the error envelope).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sorakit.server.bodies import unflatten
from sorakit.settings import Settings

Serve = Callable[..., contextlib.AbstractContextManager[str]]


@pytest.fixture
def gateway(settings: Settings, serve: Serve) -> Iterator[httpx.Client]:
    """An open gateway on loopback, with callbacks on (a public URL is set)."""
    with (
        serve(settings.model_copy(update={"public_url": "http://127.0.0.1:9"})) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def assert_refused(response: httpx.Response, status: int, param: str | None = None) -> None:
    """A 4xx in the OpenAI error envelope."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param


def test_a_form_whose_fields_do_not_fit_together_is_refused(gateway: httpx.Client) -> None:
    # Found by schemathesis: a file part `input_reference` and `input_reference[image_url]` in
    # one form made `unflatten` index into the file (TypeError, 500).
    png = make_png()
    both = gateway.post(
        "/v1/videos",
        data={"prompt": "a cat", "input_reference[image_url]": "data:,"},
        files={"input_reference": ("a.png", png, "image/png")},
    )
    assert_refused(both, 400, "input_reference")
    after = gateway.post(
        "/v1/videos", data={"prompt": "a cat", "characters[][id]": "x", "characters": "y"}
    )
    assert_refused(after, 400, "characters")
    nameless = gateway.post("/v1/videos", files={"": ("a.png", png, "image/png")})
    assert_refused(nameless, 400, "")  # an unknown argument, named as sent


def test_repeated_form_fields_are_kept_as_a_list() -> None:
    assert unflatten([("reference_images", 1), ("reference_images", 2)]) == {
        "reference_images": [1, 2]
    }
    assert unflatten([("tags[]", "a"), ("tags[][id]", "b")]) == {"tags": ["a", {"id": "b"}]}
    with pytest.raises(Exception, match="does not fit"):
        unflatten([("video[id]", "a"), ("video", "b")])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"prompt": "a cat", "seconds": NaN}',
        b'{"prompt": "a cat", "seconds": Infinity}',
        b'{"prompt": "a cat", "size": 1e400}',
        b'{"prompt": "\\ud800 a cat"}',
        b'{"prompt": "a cat", "\\udfff": 1}',
    ],
)
def test_json_that_no_column_can_hold_is_refused(gateway: httpx.Client, raw: bytes) -> None:
    # NaN, Infinity and 1e400 parse to floats that `int()` and SQLite refuse; an unpaired
    # surrogate escape parses to a str that cannot be encoded (each was a 500 somewhere).
    sent = gateway.post("/v1/videos", content=raw, headers={"content-type": "application/json"})
    assert_refused(sent, 400)


def test_an_emoji_written_as_a_surrogate_pair_is_fine(gateway: httpx.Client) -> None:
    sent = gateway.post(
        "/v1/videos",
        content=b'{"prompt": "a fox \\ud83e\\udd8a", "seconds": "4"}',
        headers={"content-type": "application/json"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["prompt"] == "a fox \N{FOX FACE}"


def test_an_admin_number_past_a_float_is_refused(
    settings: Settings, serve: Serve, capfd: pytest.CaptureFixture[str]
) -> None:
    with serve(settings) as url:
        admin = capfd.readouterr().err.split("shown this once")[1].split()[-1]
        made = httpx.post(
            f"{url}/admin/keys",
            content=b'{"name": "x", "concurrency": 1e400}',
            headers={"Authorization": f"Bearer {admin}", "content-type": "application/json"},
        )
    assert_refused(made, 400)


def test_a_callback_token_that_is_not_ascii_is_not_found(gateway: httpx.Client) -> None:
    # Found by schemathesis: `POST /callbacks/%5E?token=é` reached `hmac.compare_digest` with a
    # non-ASCII str, which raises TypeError (500). Now it is answered like any wrong token.
    made = gateway.post("/v1/videos", json={"prompt": "a cat", "seconds": "4"}).json()
    for token in ("\N{LATIN SMALL LETTER E WITH ACUTE}", "x"):
        assert_refused(
            gateway.post(f"/callbacks/{made['id']}", params={"token": token}), 404, "video_id"
        )


def test_every_videos_route_describes_its_body_and_its_errors(gateway: httpx.Client) -> None:
    # The description had no request bodies (the routes read them by hand) and documented a
    # 422 that the server never answers; schemathesis fuzzes what the description says.
    description: dict[str, Any] = gateway.get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, methods in description["paths"].items()
        if path.startswith(("/v1/videos", "/callbacks", "/healthz"))
        for method, operation in methods.items()
    ]
    assert len(operations) == 12
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        assert responses["4XX"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorEnvelope"
        }
        if method == "post" and not path.startswith("/callbacks"):
            content = operation["requestBody"]["content"]
            assert "prompt" in str(content) or "name" in str(content), (method, path)
    create = description["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    upload = create["multipart/form-data"]["schema"]["properties"]["input_reference"]
    assert (upload["type"], upload["format"]) == ("string", "binary")
    assert create["application/json"]["schema"]["required"] == ["prompt"]


def test_a_link_signature_that_is_not_ascii_is_refused(gateway: httpx.Client) -> None:
    # Found by schemathesis: `LinkSigner.verify` handed a non-ASCII signature to
    # `compare_digest` (TypeError, 500); fixed in gateway/links.py meanwhile.
    refused = gateway.get(
        "/v1/links/video_x/content",
        params={"expires": "1", "signature": "\N{LATIN SMALL LETTER E WITH ACUTE}"},
    )
    assert_refused(refused, 403, "signature")


def test_an_empty_idempotency_key_is_no_key(gateway: httpx.Client) -> None:
    # Found by schemathesis: `Idempotency-Key: ""` skipped the engine's lookup of the key but was
    # stored as the key, so the second such create hit the unique index (IntegrityError, 500).
    ids = set()
    for _ in range(2):
        made = gateway.post(
            "/v1/videos", json={"prompt": "a cat", "seconds": "4"}, headers={"Idempotency-Key": ""}
        )
        assert made.status_code == 200, made.text
        ids.add(made.json()["id"])
    assert len(ids) == 2
    again = [
        gateway.post("/v1/videos", json={"prompt": "a dog"}, headers={"Idempotency-Key": "k1"})
        for _ in range(2)
    ]
    assert again[0].json()["id"] == again[1].json()["id"]  # a real key still dedupes
    too_long = gateway.post(
        "/v1/videos", json={"prompt": "a cat"}, headers={"Idempotency-Key": "k" * 201}
    )
    assert_refused(too_long, 400, "Idempotency-Key")


# Bugs that were outside the server modules (the engine, admin keys, chat).


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e999"])
def test_seconds_that_are_not_finite_are_refused(gateway: httpx.Client, seconds: str) -> None:
    assert_refused(
        gateway.post("/v1/videos", json={"prompt": "a", "seconds": seconds}), 400, "seconds"
    )


def test_an_admin_number_past_sqlite_is_refused(
    settings: Settings, serve: Serve, capfd: pytest.CaptureFixture[str]
) -> None:
    with serve(settings) as url:
        admin = capfd.readouterr().err.split("shown this once")[1].split()[-1]
        made = httpx.post(
            f"{url}/admin/keys",
            json={"name": "x", "concurrency": 10**30},
            headers={"Authorization": f"Bearer {admin}"},
        )
    assert_refused(made, 400, "concurrency")


def test_a_chat_with_an_unpaired_surrogate_is_refused(gateway: httpx.Client) -> None:
    sent = gateway.post(
        "/v1/chat/completions",
        content=b'{"model": "sora-2", "messages": [{"role": "user", "content": "\\ud800 a cat"}]}',
        headers={"content-type": "application/json"},
    )
    assert_refused(sent, 400)


def test_a_chat_with_an_empty_idempotency_key_is_no_key(gateway: httpx.Client) -> None:
    body = {"model": "sora-2", "messages": [{"role": "user", "content": "a cat"}]}
    for _ in range(2):
        sent = gateway.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": ""})
        assert sent.status_code == 200, sent.text


def make_png() -> bytes:
    """A real 8x8 PNG."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()
