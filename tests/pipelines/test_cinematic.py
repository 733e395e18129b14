"""The cinematic rewrite's checks, its rendering and its offline plan, without a server."""

from __future__ import annotations

import pytest

from sorakit.errors import InvalidRequestError
from sorakit.pipelines.cinematic import (
    LENGTHS,
    Beat,
    CinematicPlan,
    PlanProblem,
    beats_for,
    check_plan,
    check_request,
    cinematic_rewrite,
    render,
)
from sorakit.pipelines.cinematic_offline import offline_plan
from sorakit.settings import Settings


def plan(*edges: float, action: str = "the cat jumps") -> CinematicPlan:
    beats = [
        Beat(start=start, end=end, action=action, camera="pan")
        for start, end in zip(edges, edges[1:], strict=False)
    ]
    return CinematicPlan(
        primary_subject="a cat",
        setting="a kitchen",
        look="warm",
        camera="35 mm",
        lighting="window light",
        beats=beats,
    )


def test_a_timeline_must_cover_the_duration_in_order() -> None:
    assert [b.end for b in check_plan(plan(0, 4, 10.02), 10).beats] == [4, 10]  # rounding kept
    problems = {
        "a gap": (
            plan(0, 4, 10).model_copy(
                update={
                    "beats": [
                        Beat(start=0, end=4, action="a", camera="b"),
                        Beat(start=5, end=10, action="a", camera="b"),
                    ]
                }
            ),
            "gap from 4 s to 5 s",
        ),
        "an overlap": (
            plan(0, 4, 10).model_copy(
                update={
                    "beats": [
                        Beat(start=0, end=6, action="a", camera="b"),
                        Beat(start=4, end=10, action="a", camera="b"),
                    ]
                }
            ),
            "beat 2 overlaps",
        ),
        "too short": (plan(0, 4, 8), "ends at 8 s, not at the duration (10 s)"),
        "a late start": (plan(1, 4, 10), "gap from 0 s to 1 s"),
        "an empty beat": (plan(0, 5, 10, action="  "), "beat 1 has no action"),
    }
    for what, (bad, said) in problems.items():
        with pytest.raises(PlanProblem) as found:
            check_plan(bad, 10)
        assert said in found.value.reason, what


def test_empty_fields_and_one_beat_are_not_a_plan() -> None:
    with pytest.raises(ValueError, match="is empty"):
        CinematicPlan.model_validate(plan(0, 5, 10).model_dump() | {"setting": " \n "})
    with pytest.raises(ValueError, match="at least 2"):
        CinematicPlan.model_validate(plan(0, 5, 10).model_dump() | {"beats": []})


@pytest.mark.parametrize("seconds", [10, 15, 20, 7])
@pytest.mark.parametrize(
    "prompt",
    [
        "An orange cat playing on the windowsill",
        "kitten",
        "Make a video of a kitten running across a meadow at sunset. Anime style.",
        "in the rain",
    ],
)
def test_the_offline_plan_fits_every_length_and_duration(prompt: str, seconds: int) -> None:
    sizes = []
    for length in LENGTHS:
        made = check_plan(offline_plan(prompt, length, seconds), seconds)
        assert len(made.beats) == beats_for(length, seconds)
        assert all(beat.end - beat.start >= 1 for beat in made.beats)
        text = render(made, seconds)
        assert text.count("\n") == 5 + len(made.beats)
        sizes.append(len(text))
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_the_offline_plan_is_made_of_the_prompts_words() -> None:
    made = offline_plan("Make a video of a kitten running across a meadow at sunset", "medium", 10)
    assert made.primary_subject == "a kitten, running"
    assert made.setting == "across a meadow at sunset"
    assert "golden hour" in made.lighting
    assert "video of" not in render(made, 10)


def test_requests_are_checked() -> None:
    for prompt, length, seconds in [("a", "huge", 10), ("a", "short", 0), (" ", "short", 10)]:
        with pytest.raises(InvalidRequestError):
            check_request(prompt, length, seconds)


async def test_without_a_chat_key_the_rewrite_is_offline_and_says_so(settings: Settings) -> None:
    rewrite = await cinematic_rewrite("a fox in the snow", "long", 20, settings=settings)
    assert rewrite.by == "offline" and rewrite.note and "no chat model" in rewrite.note
    assert rewrite.text == render(offline_plan("a fox in the snow", "long", 20), 20)
