"""sora2api-style model names and messages, understood; signed links made and checked."""

from __future__ import annotations

import pytest

from sorakit.catalog import build_catalog
from sorakit.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from sorakit.gateway.chat_models import (
    ChatModel,
    chat_model_names,
    parse_messages,
    parse_model,
)
from sorakit.gateway.links import LinkSigner
from sorakit.settings import Settings

VIDEO = "video_" + "ab" * 16


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sora2-landscape-10s", ChatModel("sora2-landscape-10s", "sora-2", 10, "1280x720")),
        ("sora2-portrait-15s", ChatModel("sora2-portrait-15s", "sora-2", 15, "720x1280")),
        (
            "sora2pro-landscape-25s",
            ChatModel("sora2pro-landscape-25s", "sora-2-pro", 25, "1280x720"),
        ),
        (
            "sora2pro-hd-portrait-10s",
            ChatModel("sora2pro-hd-portrait-10s", "sora-2-pro", 10, "1080x1920"),
        ),
        ("sora2pro-hd", ChatModel("sora2pro-hd", "sora-2-pro", None, "1920x1080")),
        ("sora2-8s", ChatModel("sora2-8s", "sora-2", 8, None)),
        ("sora-2", ChatModel("sora-2", "sora-2")),
        ("sora-2-pro-2025-10-06", ChatModel("sora-2-pro-2025-10-06", "sora-2-pro-2025-10-06")),
        ("prompt-enhance-pixar", ChatModel("prompt-enhance-pixar", enhance="pixar")),
    ],
)
def test_model_names(settings: Settings, name: str, expected: ChatModel) -> None:
    assert parse_model(name, build_catalog(settings)) == expected


def test_unknown_names_are_not_found(settings: Settings) -> None:
    catalog = build_catalog(settings)
    for name in ("sora3-landscape-10s", "sora2-sideways-10s", "gpt-4o", "prompt-enhance-long"):
        with pytest.raises(NotFoundError) as missing:
            parse_model(name, catalog)
        assert missing.value.param == "model"
    with pytest.raises(InvalidRequestError):
        parse_model("sora2-landscape-0s", catalog)


def test_operator_aliases_are_model_names(settings: Settings) -> None:
    catalog = build_catalog(settings.model_copy(update={"aliases": {"house": "sora-2-pro"}}))
    assert parse_model("house", catalog) == ChatModel("house", "house")
    names = dict(chat_model_names(catalog))
    assert names["house"] == "house" and names["sora2pro-hd-landscape-15s"] == "sora-2-pro"
    assert names["prompt-enhance-director"] is None
    assert len([n for n in names if n.startswith("sora2")]) == 3 * 2 * 3


def test_the_last_user_message_is_the_request() -> None:
    asked = parse_messages(
        [
            {"role": "user", "content": "an old request"},
            {"role": "assistant", "content": "done"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"make {VIDEO} snowy"},
                    {"type": "text", "text": "{anime}"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
            {"role": "system", "content": "ignored"},
        ]
    )
    assert asked.remix_of == VIDEO and asked.styles == ["anime"]
    assert asked.prompt.startswith("make snowy.") and "Anime style" in asked.prompt
    assert asked.images == ["https://example.com/a.png", "data:image/png;base64,AAAA"]
    assert not asked.storyboard


def test_storyboards_are_recognised() -> None:
    assert parse_messages([{"role": "user", "content": "[5s] a door [8.5s] a dog"}]).storyboard
    assert parse_messages([{"role": "user", "content": "[5.0s]a door"}]).storyboard
    assert not parse_messages([{"role": "user", "content": "a list [5] of 5s"}]).storyboard


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "a string",
        [{"role": "system", "content": "no user"}],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": f"{VIDEO}"}],
        [{"role": "user", "content": f"{VIDEO} and video_{'cd' * 16}"}],
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a"}}]}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
        [{"role": "user", "content": {"not": "a list"}}],
        [{"role": "user", "content": "a {nosuchstyle} cat"}],
    ],
)
def test_messages_that_cannot_be_a_video(messages: object) -> None:
    with pytest.raises(InvalidRequestError):
        parse_messages(messages)


def test_links_are_bound_to_video_and_expiry(settings: Settings) -> None:
    signer = LinkSigner.from_settings(settings, ttl=60)
    path = signer.path(VIDEO, now=1000.0)
    assert path.startswith(f"/v1/links/{VIDEO}/content?expires=1060&signature=")
    signature = path.rsplit("=", 1)[1]
    assert signer.verify(VIDEO, 1060, signature, now=1059.0) is None
    assert signer.verify(VIDEO, 1060, signature, now=1061.0) == "expired"
    assert signer.verify(VIDEO, 1061, signature, now=1000.0) == "invalid"
    assert signer.verify("video_" + "cd" * 16, 1060, signature, now=1000.0) == "invalid"
    assert signer.verify(VIDEO, 1060, "é" + signature[1:], now=1000.0) == "invalid"
    # The key is kept in SORAKIT_HOME: another process signs the same; another home does not.
    assert LinkSigner.from_settings(settings).signature(VIDEO, 1060) == signature
    assert (settings.home / "links.key").stat().st_mode & 0o777 == 0o600
    assert LinkSigner(b"another key").signature(VIDEO, 1060) != signature


def test_a_storyboard_keeps_its_text_for_the_planner() -> None:
    asked = parse_messages([{"role": "user", "content": "{anime} [5s] a door\n[8s] a dog {noir}"}])
    assert asked.storyboard and asked.styles == ["anime", "noir"]
    assert asked.text == "{anime} [5s] a door\n[8s] a dog {noir}"  # styled shot by shot later
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    for content in ([{"type": "text", "text": "[5s] a door"}, image], f"[5s] make {VIDEO} red"):
        with pytest.raises(InvalidRequestError, match="text alone"):
            parse_messages([{"role": "user", "content": content}])


def test_pipeline_links_are_a_kind_of_their_own(settings: Settings) -> None:
    signer = LinkSigner.from_settings(settings, ttl=60)
    board = "storyboard_" + "ab" * 12
    path = signer.path(board, kind="pipeline", now=1000.0)
    assert path.startswith(f"/v1/links/pipelines/{board}/content?expires=1060&signature=")
    signature = path.rsplit("=", 1)[1]
    assert signer.verify(board, 1060, signature, kind="pipeline", now=1000.0) is None
    assert signer.verify(board, 1060, signature, now=1000.0) == "invalid"  # not a video's
    assert signer.signature(VIDEO, 1060) != signer.signature(VIDEO, 1060, "pipeline")
    fresh = signer.path(board, kind="pipeline")
    expires, fresh_signature = (part.split("=")[1] for part in fresh.split("?")[1].split("&"))
    signer.check(board, int(expires), fresh_signature, kind="pipeline")
    with pytest.raises(PermissionDeniedError, match="not valid"):
        signer.check(board, 1060, signature)
    with pytest.raises(PermissionDeniedError, match="expired"):
        signer.check(board, 1, signer.signature(board, 1, "pipeline"), kind="pipeline")
