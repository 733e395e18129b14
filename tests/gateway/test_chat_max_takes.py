"""`max_takes`, sorakit's own chat field: the most takes a client lets one turn make, however
they are asked (the Open WebUI pipe sends its variations valves in it)."""

from __future__ import annotations

import openai
import pytest

from sorakit.settings import Settings
from tests.gateway.test_chat import gateway


def _answer(url: str, content: str, **extra: object) -> str:
    client = openai.OpenAI(base_url=url, api_key="any")
    completion = client.chat.completions.create(
        model="sora-2",
        messages=[{"role": "user", "content": content}],
        extra_body=extra,  # type: ignore[arg-type]
    )
    return completion.choices[0].message.content or ""


def test_takes_asked_in_words_or_by_n_are_cut_to_max_takes_with_a_note(settings: Settings) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.2})
    with gateway(settings) as url:
        one = _answer(url, "three takes of a red kite, 4 seconds", max_takes=1)
        two = _answer(url, "a red kite, 4 seconds", n=3, max_takes=2)
        free = _answer(url, "three takes of a red kite, 4 seconds")
    assert one.startswith("Creating video video_") and "1 take, the most at once (not 3)." in one
    assert two.startswith("Creating 2 takes ") and "2 takes, the most here (not 3)." in two
    assert free.startswith("Creating 3 takes ")


@pytest.mark.parametrize("most", [0, 17, "2", True, 1.5])
def test_a_bad_max_takes_is_refused_in_the_envelope(settings: Settings, most: object) -> None:
    with gateway(settings) as url, pytest.raises(openai.BadRequestError) as refused:
        _answer(url, "a red kite", max_takes=most)
    assert refused.value.body["param"] == "max_takes"  # type: ignore[index]
    assert "whole number from 1 to 16" in refused.value.body["message"]  # type: ignore[index]
