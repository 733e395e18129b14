"""The chat facade understands what people say: lengths and shapes in words, "remix it", takes,
long videos, refusals and notes, through the official `openai` SDK against a real server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import openai
import pytest

from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.gateway.test_tenants import client, make_key

VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
LINK = re.compile(r"\]\((http://[^)\s]+)\)")
Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"simulator_render_seconds": 0.2})


@contextmanager
def api(serve: Serve, settings: Settings) -> Iterator[str]:
    with serve(settings) as url:
        yield f"{url}/v1"


def say(
    sdk: openai.OpenAI, messages: list[dict[str, str]], model: str = "sora-2", n: int = 1
) -> str:
    answer = sdk.chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        n=n,
    )
    text = answer.choices[0].message.content
    assert text is not None
    return text


def streamed(sdk: openai.OpenAI, content: str, model: str = "sora-2") -> str:
    chunks = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def first_video(text: str) -> str:
    match = VIDEO_ID.search(text)
    assert match, text
    return match.group(0)


def test_the_words_set_length_and_shape_and_the_answer_says_what_was_adjusted(
    serve: Serve, quick: Settings
) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        text = say(sdk, [{"role": "user", "content": "make a 7 second vertical video of a cat"}])
        video = sdk.videos.retrieve(first_video(text))
        assert (video.model, video.seconds, video.size) == ("sora-2", "8", "720x1280")
        assert text.startswith(f"Creating video {video.id} with sora-2: 8 s, 720x1280.")
        assert "8 s: sora-2 makes 4, 8" in text.split("\n")[0]  # the note, in the visible text
        assert "7 second" not in (video.prompt or "")  # the parameter words are taken out
        # The words win over the model name's length and shape; streamed, the note is there too.
        text = streamed(sdk, "a 12 second portrait clip of a lighthouse", "sora2-landscape-10s")
        video = sdk.videos.retrieve(first_video(text))
        assert (video.seconds, video.size) == ("12", "720x1280")
        assert "Your video is ready" in text


def test_remix_it_remixes_the_video_of_the_earlier_answer_for_its_own_key_only(
    serve: Serve, quick: Settings
) -> None:
    alice_key, bob_key = make_key(quick, "alice"), make_key(quick, "bob")
    with api(serve, quick) as url:
        alice, bob = client(url, alice_key), client(url, bob_key)
        asked = {"role": "user", "content": "a fox in the snow"}
        first = say(alice, [asked])
        source = first_video(first)
        history = [asked, {"role": "assistant", "content": first}]
        again = [*history, {"role": "user", "content": "remix it, at night"}]
        text = say(alice, again)
        remix_id = VIDEO_ID.findall(text)[1]
        assert text.startswith(f"Creating remix of {source} {remix_id} with sora-2:")
        remix = alice.videos.retrieve(remix_id)
        assert remix.remixed_from_video_id == source
        assert "night" in (remix.prompt or "") and "remix it" not in (remix.prompt or "")
        # "It" in a third turn is the remix, read back from the second answer.
        third = [*again, {"role": "assistant", "content": text}]
        third.append({"role": "user", "content": "remix it in autumn colours"})
        later = alice.videos.retrieve(VIDEO_ID.findall(say(alice, third))[1])
        assert later.remixed_from_video_id == remix_id
        # Another key's conversation that points at alice's video: not found, and nothing made.
        with pytest.raises(openai.NotFoundError) as refused:
            say(bob, again)
        assert source in refused.value.message
        assert bob.videos.list().data == []


def test_continue_it_extends_the_earlier_video(serve: Serve, quick: Settings) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        asked = {"role": "user", "content": "an 8 second video of a kite"}
        first = say(sdk, [asked])
        source = first_video(first)
        turns = [asked, {"role": "assistant", "content": first}]
        turns.append({"role": "user", "content": "continue it for 4 more seconds"})
        text = say(sdk, turns)
        extension = sdk.videos.retrieve(VIDEO_ID.findall(text)[0])
        assert extension.id != source
        assert text.startswith(f"Creating video {extension.id} with sora-2: 12 s,")
        assert f"It continues {source} by 4 s." in text
        assert f"Continuing {source}, the latest video in this conversation." in text


def test_remix_it_with_no_earlier_video_and_a_share_link_are_refused_clearly(
    serve: Serve, quick: Settings
) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        with pytest.raises(openai.BadRequestError) as refused:
            say(sdk, [{"role": "user", "content": "https://sora.chatgpt.com/p/s_68a1b2c3 longer"}])
        assert "share link of the old Sora app" in refused.value.message
        with pytest.raises(openai.BadRequestError) as refused:
            say(sdk, [{"role": "user", "content": "remix it, at night"}])
        assert "no earlier video" in refused.value.message
        assert sdk.videos.list().data == []


def test_n_or_words_ask_for_takes_each_linked(serve: Serve, quick: Settings) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice", concurrency=2))
        text = say(sdk, [{"role": "user", "content": "a paper boat on a pond"}], n=3)
        assert re.match(r"Creating 3 takes variations_\S+ with sora-2: \d+ s each, \d+x\d+\.", text)
        links = LINK.findall(text)
        assert len(links) == 3 and "Your 3 takes are ready" in text
        assert httpx.get(links[0]).headers["content-type"] == "video/mp4"
        made = sdk.videos.list().data
        assert len(made) == 3 and {v.prompt for v in made} == {"a paper boat on a pond"}
        text = streamed(sdk, "two versions of a red balloon")
        assert "Creating 2 takes" in text and len(LINK.findall(text)) == 2
        assert len(sdk.videos.list().data) == 5


def test_half_a_minute_is_a_long_video_with_one_stitched_link(
    serve: Serve, quick: Settings
) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        text = say(sdk, [{"role": "user", "content": "half a minute of a river at dawn"}])
        intro = re.match(r"Creating long video long_\S+ with sora-2: 32 s in (\d+) clips", text)
        assert intro, text
        assert "30 s is longer than one sora-2 clip" in text and "32 s (" in text  # the notes
        (link,) = LINK.findall(text)
        assert "/v1/links/pipelines/" in link
        downloaded = httpx.get(link)
        assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "video/mp4"
        assert len(sdk.videos.list().data) == int(intro.group(1))  # its clips are the key's


def test_an_image_turn_makes_an_image_and_no_video(serve: Serve, quick: Settings) -> None:
    """More in test_chat_images.py."""
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        text = streamed(sdk, "make an image of a lighthouse")
        assert text.startswith("Creating image img_") and "with gpt-image-1" in text
        assert "sora-2 makes videos" in text and "/v1/images/img_" in text
        assert sdk.videos.list().data == []


def test_an_enhancer_without_a_chat_model_says_so_in_its_text(
    serve: Serve, quick: Settings
) -> None:
    with api(serve, quick) as url:
        sdk = client(url, "anything")
        text = streamed(sdk, "a fox", "prompt-enhance-director")
        assert text.startswith("a fox\n\nThe prompt was not rewritten:")
        assert "no chat API key is set" in text
