"""Real safety refusals, in the providers' own words and fields, end `moderation_blocked`.

Each provider runs through its official SDK against its fake, which answers the payload its
provider documents for a filtered job. The job fails with `moderation_blocked` (what Sora said),
and the provider's own sentence is kept in the message. Structured fields decide first (Google's
filtered counts and support codes, fal's error `type`, Runway's `failureCode`, OpenAI's error
`code`); the wording only when there is nothing else, so a validation error that merely mentions
a safety *setting* is not mistaken for a refusal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sorakit.errors import ProviderBadRequestError
from sorakit.providers.fal import FalProvider
from sorakit.providers.google import GeminiProvider, VertexVeoProvider
from sorakit.providers.openai import OpenAIProvider
from sorakit.providers.runway import RunwayProvider
from tests.conftest import ThreadedServer
from tests.providers.fal_fake import MODERATION_WORD, FakeFalQueue, Fault, generate, make
from tests.providers.google_fake import FakeGoogle
from tests.providers.openai_fake import FakeVideosAPI
from tests.providers.runway_fake import FakeRunwayAPI
from tests.providers.test_google import _Dispatch, _gemini, _request, _veo, _vertex
from tests.providers.test_runway import generate as runway_generate, make_provider

# https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/video/responsible-ai-and-usage-guidelines
# ("Safety filter code categories"; the same page on cloud.google.com/vertex-ai said "Vertex AI's").
# None of the words Google's filter used to be recognised by is in it: only its support code.
VEO_FILTERED = (
    "Veo could not generate videos because the input image violates Agent Platform's usage "
    "guidelines. If you think this was an error, send feedback. Support codes: 15236754"
)
# https://docs.fal.ai/errors#content_policy_violation: one `detail` entry per flagged input.
FAL_FLAGGED = {
    "loc": ["body", "prompt"],
    "msg": "The content was flagged by a content checker.",
    "type": "content_policy_violation",
    "url": "https://docs.fal.ai/errors#content_policy_violation",
    "categories": ["sexual"],
}
# https://docs.pydantic.dev/latest/errors/validation_errors/#bool_parsing: fal's 422 for a bad
# `enable_safety_checker` is a validation error, not a refusal, though it says "safety".
FAL_NOT_A_REFUSAL = {
    "loc": ["body", "enable_safety_checker"],
    "msg": "Input should be a valid boolean, unable to interpret input",
    "type": "bool_parsing",
}


@pytest.fixture(scope="module")
def google_server() -> Iterator[tuple[_Dispatch, str]]:
    dispatch = _Dispatch()
    config = uvicorn.Config(dispatch, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield dispatch, url


@pytest.fixture
def google(google_server: tuple[_Dispatch, str], tmp_path: Path) -> FakeGoogle:
    (tmp_path / "fake").mkdir()
    fake = FakeGoogle(tmp_path / "fake")
    google_server[0].fake = fake
    return fake


@pytest.fixture
async def vertex(
    google: FakeGoogle, google_server: tuple[_Dispatch, str]
) -> AsyncIterator[VertexVeoProvider]:
    provider = _vertex(google, google_server[1])
    yield provider
    await provider.aclose()


@pytest.fixture
async def gemini(
    google: FakeGoogle, google_server: tuple[_Dispatch, str]
) -> AsyncIterator[GeminiProvider]:
    provider = _gemini(google, google_server[1])
    yield provider
    await provider.aclose()


def finish(google: FakeGoogle) -> None:
    google.advance(google.queue_seconds + google.render_seconds + 1)


@pytest.mark.parametrize(
    "operation",
    [
        {"error": {"code": 3, "message": VEO_FILTERED}},
        {"response": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [VEO_FILTERED]}},
    ],
    ids=["operation-error", "filtered-reasons"],
)
async def test_vertex_veo_filtered(
    google: FakeGoogle, vertex: VertexVeoProvider, operation: dict[str, Any]
) -> None:
    google.failed_operation = operation
    job = await vertex.submit(_veo(prompt="a forbidden scene"))
    finish(google)
    failed = await vertex.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "moderation_blocked")
    assert failed.error_message == VEO_FILTERED


async def test_vertex_veo_refused_at_create(google: FakeGoogle, vertex: VertexVeoProvider) -> None:
    google.fail_next(400, VEO_FILTERED)
    with pytest.raises(ProviderBadRequestError) as refused:
        await vertex.submit(_veo())
    assert refused.value.code == "moderation_blocked"  # the job's error code (engine.runner)
    assert VEO_FILTERED in refused.value.message


async def test_gemini_interaction_filtered(google: FakeGoogle, gemini: GeminiProvider) -> None:
    google.failed_interaction = {"errors": [{"message": VEO_FILTERED}]}
    job = await gemini.submit(_request(prompt="something forbidden"))
    finish(google)
    failed = await gemini.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "moderation_blocked")
    assert failed.error_message == VEO_FILTERED


@pytest.fixture
def fal(tmp_path: Path) -> Iterator[FakeFalQueue]:
    queue = FakeFalQueue(b"\x00\x00\x00\x18ftypmp42", moderation="result")
    yield queue
    queue.close()


@pytest.fixture
async def fal_provider(fal: FakeFalQueue) -> AsyncIterator[FalProvider]:
    provider = make(fal)
    yield provider
    await provider.aclose()


@pytest.mark.parametrize(
    ("detail", "code"),
    [([FAL_FLAGGED], "moderation_blocked"), ([FAL_NOT_A_REFUSAL], "failed")],
    ids=["content-policy", "safety-setting-typo"],
)
async def test_fal_result_refused(
    fal: FakeFalQueue, fal_provider: FalProvider, detail: list[dict[str, Any]], code: str
) -> None:
    fal.moderation_body = {"detail": detail}
    job = await fal_provider.submit(generate(prompt=f"something {MODERATION_WORD}"))
    fal.advance(3600)
    failed = await fal_provider.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", code)
    assert detail[0]["msg"] in (failed.error_message or "")


async def test_fal_refused_at_create(fal: FakeFalQueue, fal_provider: FalProvider) -> None:
    fal.fail("submit", Fault(422, {"detail": [FAL_FLAGGED]}))
    with pytest.raises(ProviderBadRequestError) as refused:
        await fal_provider.submit(generate())
    assert refused.value.code == "moderation_blocked"
    assert "flagged by a content checker" in refused.value.message


@pytest.fixture
async def runway(tmp_path: Path) -> AsyncIterator[tuple[FakeRunwayAPI, RunwayProvider]]:
    fake = FakeRunwayAPI(workdir=tmp_path / "runway")
    provider = make_provider(fake)
    yield fake, provider
    await provider.aclose()


# https://docs.dev.runwayml.com/api-details/task-failures: `SAFETY.*` and
# `INPUT_PREPROCESSING.SAFETY.TEXT` are moderation; `INTERNAL.BAD_OUTPUT.*` is quality and
# `INPUT_PREPROCESSING.INTERNAL` a moderation *outage*, neither a refusal. The docs publish no
# `failure` sentences, so the text here is only checked to be kept.
@pytest.mark.parametrize(
    ("failure_code", "code"),
    [
        ("SAFETY.INPUT.TEXT", "moderation_blocked"),
        ("SAFETY.INPUT.IMAGE", "moderation_blocked"),
        ("SAFETY.OUTPUT.VIDEO", "moderation_blocked"),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", "moderation_blocked"),
        ("INTERNAL.BAD_OUTPUT.CODE01", "INTERNAL.BAD_OUTPUT.CODE01"),
        ("INPUT_PREPROCESSING.INTERNAL", "INPUT_PREPROCESSING.INTERNAL"),
    ],
)
async def test_runway_failure_codes(
    runway: tuple[FakeRunwayAPI, RunwayProvider], failure_code: str, code: str
) -> None:
    fake, provider = runway
    fake.fail_next_task(failure_code, "The task failed.")
    job = await provider.submit(runway_generate())
    fake.advance(60)
    failed = await provider.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", code)
    assert failed.error_message == f"The task failed. ({failure_code})"


@pytest.fixture
async def videos() -> AsyncIterator[tuple[FakeVideosAPI, OpenAIProvider]]:
    fake = FakeVideosAPI()
    provider = OpenAIProvider(
        base_url="http://videos.test/v1", api_key=fake.api_key, transport=fake.transport()
    )
    yield fake, provider
    await provider.aclose()


# `moderation_blocked` is the Videos API's code (https://platform.openai.com/docs/api-reference/
# videos/object, `error.code`); OpenAI-compatible servers answer with the Images API's
# `content_policy_violation` (https://platform.openai.com/docs/guides/error-codes) and its text.
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("moderation_blocked", "Your request was blocked by our moderation system."),
        (
            "content_policy_violation",
            "Your request was rejected as a result of our safety system. Your prompt may contain "
            "text that is not allowed by our safety system.",
        ),
    ],
)
async def test_openai_video_refused(
    videos: tuple[FakeVideosAPI, OpenAIProvider], code: str, message: str
) -> None:
    fake, provider = videos
    video = fake.add_video(fail_with=(code, message))
    failed = await provider.retrieve(video.id)
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        "moderation_blocked",
        message,
    )
