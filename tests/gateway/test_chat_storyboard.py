"""Storyboards through chat completions: the official `openai` SDK against a real `sorakit serve`."""

from __future__ import annotations

import itertools
import json
import re
import time
from fractions import Fraction
from pathlib import Path

import anyio
import httpx
import openai
import pytest

from sorakit import media
from sorakit.engine import Engine, Owner
from sorakit.errors import BudgetExceededError
from sorakit.gateway.chat_storyboards import StoryboardWatch
from sorakit.gateway.links import LinkSigner
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.ledger import JobRecord, PipelineStatus
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.gateway.test_chat import LINK, ask, gateway
from tests.gateway.test_tenants import client, creates, make_key

PIPELINE = re.compile(r"storyboard_[0-9a-f]{24}")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


def stream_text(sdk: openai.OpenAI, model: str, content: str) -> list[str]:
    """The content of every chunk of a streamed answer, checked for the chunk shapes."""
    chunks = list(
        sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], stream=True
        )
    )
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].choices[0].delta.role == "assistant"
    reasons = [c.choices[0].finish_reason for c in chunks]
    assert reasons[-1] == "stop" and reasons.count("stop") == 1
    return [c.choices[0].delta.content or "" for c in chunks]


def download(link: str, tmp_path: Path) -> media.MediaInfo:
    """The linked MP4, fetched with no key at all, probed with PyAV."""
    answer = httpx.get(link, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.mp4"
    path.write_bytes(answer.content)
    return media.probe(path)


def assert_lasts(info: media.MediaInfo, seconds: float) -> None:
    """The video lasts the storyboard's total, within two frames."""
    video = info.video
    assert video is not None
    assert abs(video.frames - round(Fraction(seconds) * video.frame_rate)) <= 2
    assert info.duration == pytest.approx(seconds, abs=float(2 / video.frame_rate))


def test_a_streamed_storyboard_names_its_shots_and_links_the_stitched_video(
    settings: Settings, tmp_path: Path
) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.0})
    alice_key, bob_key = make_key(slow, "alice"), make_key(slow, "bob")
    with gateway(slow) as url:
        alice, bob = client(url, alice_key), client(url, bob_key)
        parts = stream_text(
            alice,
            "sora2-landscape-10s",
            "{golden} [2.5s] a red kite rises over the dunes\n[3s] the kite loops in a gust",
        )
        text = "".join(parts)
        (pipeline_id,) = set(PIPELINE.findall(text))
        assert "2 shots (2.5 s, 3 s), 5.5 s in all, 1280x720" in text
        assert "Styles: golden" in text and "replace the model name's 10 s" in text
        assert "shot 1: 2.5 s renders as 4 s, trimmed to 2.5 s" in text
        # A chunk per shot whenever its state changes, each shot's percentages in order.
        for number in (1, 2):
            lines = [p.strip() for p in parts if p.startswith(f"shot {number}/2 ")]
            percents = [int(p) for line in lines for p in re.findall(r"rendering (\d+)%", line)]
            assert percents and percents == sorted(percents), lines
            assert lines[-1] == f"shot {number}/2 done"
        assert "stitching 2 shots…\n" in parts
        (link,) = LINK.findall(text)
        assert f"/v1/links/pipelines/{pipeline_id}/content?" in link
        assert f'<video src="{link.replace("&", "&amp;")}" controls></video>' in text

        info = download(link, tmp_path)
        assert_lasts(info, 5.5)
        assert info.video is not None and info.video.width > info.video.height

        # Every shot is one of alice's videos; bob sees none of them and cannot fetch any.
        shots = alice.videos.list().data
        assert len(shots) == 2 and {(v.size, v.seconds) for v in shots} == {("1280x720", "4")}
        assert all("Golden hour light" in (v.prompt or "") for v in shots)
        assert bob.videos.list().data == []
        for shot in shots:
            with pytest.raises(openai.NotFoundError):
                bob.videos.retrieve(shot.id)
            with pytest.raises(openai.NotFoundError):
                bob.videos.download_content(shot.id)

        # The stitched video is no key's video: only a good signature for it serves it.
        base, query = link.split("/v1/links/")[0], link.split("?")[1]
        with_bob = httpx.get(
            f"{base}/v1/links/pipelines/{pipeline_id}/content",
            headers={"authorization": f"Bearer {bob_key}"},
        )
        assert with_bob.status_code == 400  # no signature, no video
        as_video = httpx.get(f"{base}/v1/links/{pipeline_id}/content?{query}")
        assert as_video.status_code == 403  # a pipeline's signature is no video's
        forged = httpx.get(link[:-4] + ("0000" if not link.endswith("0000") else "1111"))
        assert forged.status_code == 403 and "not valid" in forged.json()["error"]["message"]
        signer = LinkSigner.from_settings(slow)
        stale = signer.path(pipeline_id, kind="pipeline", now=time.time() - 2 * signer.ttl)
        expired = httpx.get(base + stale)
        assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
        unknown = "storyboard_" + "0" * 24
        missing = httpx.get(base + signer.path(unknown, kind="pipeline"))
        assert missing.status_code == 404


def test_a_storyboard_without_streaming_waits_for_the_video(
    settings: Settings, tmp_path: Path
) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        text = ask(sdk, "sora2-portrait", "[1.5s] a door opens\n\n[2s] a dog runs out {anime}")
        assert "Your storyboard is ready" in text and "2 shots (1.5 s, 2 s)" in text
        (link,) = LINK.findall(text)
        info = download(link, tmp_path)
        assert_lasts(info, 3.5)
        assert info.video is not None and info.video.height > info.video.width
        # A style tag in a shot styles that shot only.
        prompts = {v.prompt or "" for v in sdk.videos.list().data}
        assert len(prompts) == 2
        assert {"Anime style" in p for p in prompts} == {True, False}
        assert all("dog" in p for p in prompts if "Anime style" in p)


def test_a_key_budget_refuses_the_whole_storyboard_before_any_shot(settings: Settings) -> None:
    # Two shots render 8 s each on sora-2 ($0.10/s): $1.60 does not fit in $1.00.
    token = make_key(settings, "small", budget_usd=1.0)
    limited = make_key(settings, "limited", models=["sora-2-pro"])
    board = "[5s] a door opens [8s] a dog runs out"
    with gateway(settings) as url:
        small = client(url, token)
        with pytest.raises(openai.BadRequestError) as broke:
            ask(small, "sora2-landscape", board)
        assert broke.value.code == "budget_exceeded"
        assert "$1.60" in str(broke.value) and "$1.00" in str(broke.value)
        with pytest.raises(openai.BadRequestError) as streamed:
            small.chat.completions.create(
                model="sora2-landscape",
                messages=[{"role": "user", "content": board}],
                stream=True,
            )
        assert streamed.value.code == "budget_exceeded"
        with pytest.raises(openai.PermissionDeniedError):
            ask(client(url, limited), "sora2-landscape", board)
        # 1080p pro has a price ($0.50/s), so its shot is weighed against the budget like any.
        with pytest.raises(openai.BadRequestError, match=r"\$2\.00") as pro:
            ask(small, "sora2pro-hd-landscape", "[3s] a door opens")
        assert pro.value.code == "budget_exceeded"
        # One short shot fits: the same key renders it, on its own budget.
        text = ask(small, "sora2-landscape", "[3s] a door opens")
        assert "Your storyboard is ready" in text
        (video,) = small.videos.list().data
        assert video.seconds == "4" and video.status == "completed"
    assert creates(settings) == 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[5s] a door opens [8s]", "Shot 2 ([8s] at line 1) has no prompt"),
        ("[5s] a door opens [0s] a dog", "must last more than 0 s"),
        ("[5s] a door {notastyle}", "Unknown style"),
        ("[5s] a door [8s] a dog [36001s] forever", "at most 36000 s"),
    ],
)
def test_a_bad_storyboard_is_refused_in_the_envelope(
    settings: Settings, content: str, says: str
) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        with pytest.raises(openai.BadRequestError) as refused:
            ask(sdk, "sora-2", content)
        assert says in str(refused.value)
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(
                model="sora-2", messages=[{"role": "user", "content": content}], stream=True
            )
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        with pytest.raises(openai.BadRequestError, match="text alone"):
            ask(sdk, "sora-2", [{"type": "text", "text": "[5s] a door"}, image])
        assert sdk.videos.list().data == []
    assert creates(settings) == 0


def test_a_failed_shot_ends_the_answer_with_its_error(settings: Settings) -> None:
    board = "[1s] a calm sea [1s] a fight [[moderation_blocked]]"
    with gateway(settings) as url:
        sdk = client(url, "anything")
        stream = sdk.chat.completions.create(
            model="sora-2", messages=[{"role": "user", "content": board}], stream=True
        )
        seen: list[str] = []
        with pytest.raises(openai.APIError) as failed:
            seen.extend(c.choices[0].delta.content or "" for c in stream)
        assert "moderation" in str(failed.value).lower() and "shot 2/2" in "".join(seen)
        raw = httpx.post(
            f"{url}/chat/completions",
            json={
                "model": "sora-2",
                "stream": True,
                "messages": [{"role": "user", "content": board}],
            },
            timeout=30,
        )
        events = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["code"] == "moderation_blocked"
        with pytest.raises(openai.BadRequestError) as waited:
            ask(sdk, "sora-2", board)
        assert waited.value.code == "moderation_blocked"


def test_a_key_concurrency_limit_makes_the_shots_take_turns(
    settings: Settings, tmp_path: Path
) -> None:
    token = make_key(settings, "one-at-a-time", concurrency=1)
    with gateway(settings) as url:
        sdk = client(url, token)
        text = ask(sdk, "sora2-landscape", "[1s] a door opens [1.5s] a dog runs out")
        (link,) = LINK.findall(text)
        assert_lasts(download(link, tmp_path), 2.5)

    async def shots() -> list[JobRecord]:
        async with await Engine.open(settings) as engine:
            return await engine.ledger.pipeline_jobs(PIPELINE.findall(text)[0])

    made = sorted(anyio.run(shots), key=lambda job: job.submitted_at or 0)
    assert len(made) == 2
    for before, after in itertools.pairwise(made):  # never two of the key's videos at once
        assert (before.completed_at or 0) <= (after.created_at or 0)


async def test_the_key_budget_applies_to_every_shot_as_it_is_made(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        key, _ = await engine.ledger.create_key("small", budget_usd=1.0)
        request = StoryboardRequest(
            "[3s] a door opens [3s] a dog runs out", owner=key.id, owner_budget_usd=1.0
        )
        pipeline = await Storyboards(engine).start(request)  # $0.80 fits in $1.00 now
        # Before the shots are made, the key spends elsewhere: the second shot no longer fits.
        await engine.create("elsewhere", seconds=4, submit=False, owner=Owner(key.id, 1.0))
        renders = PipelineRenders(engine)
        renders.start(pipeline.id)
        await renders.drain()
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.FAILED
        made = await engine.ledger.pipeline_jobs(pipeline.id)
        assert len(made) == 1 and made[0].owner == key.id
        watch = StoryboardWatch(engine, renders, pipeline.id, 2)
        assert (await watch.poll())[0]
        with pytest.raises(BudgetExceededError, match="this API key's budget of \\$1.00"):
            await watch.outcome()


def test_a_storyboard_goes_on_when_its_client_goes_away(settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.0})
    body = {
        "model": "sora-2",
        "stream": True,
        "messages": [{"role": "user", "content": "[1s] a paper boat [1s] it sinks"}],
    }
    with gateway(slow) as url:
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
            text = ""
            for line in response.iter_lines():
                text += line
                if "shot 2/2" in text:
                    break
        (pipeline_id,) = set(PIPELINE.findall(text))  # the client went away here
        video = slow.home / "pipelines" / pipeline_id / "video.mp4"
        deadline = time.monotonic() + 30
        while not video.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert_lasts(media.probe(video), 2.0)
        shots = client(url, "anything").videos.list().data
        assert [v.status for v in shots] == ["completed", "completed"]
