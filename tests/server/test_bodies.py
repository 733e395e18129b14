"""Bracket-nested multipart keys, as the official SDK sends them."""

from __future__ import annotations

from sorakit.server.bodies import unflatten


def test_unflatten_objects_and_arrays() -> None:
    assert unflatten([("prompt", "p"), ("input_reference[image_url]", "data:x")]) == {
        "prompt": "p",
        "input_reference": {"image_url": "data:x"},
    }
    assert unflatten([("characters[][id]", "a"), ("characters[][id]", "b")]) == {
        "characters": [{"id": "a"}, {"id": "b"}],
    }
    assert unflatten([("video[id]", "video_1"), ("tags[]", "x"), ("tags[]", "y")]) == {
        "video": {"id": "video_1"},
        "tags": ["x", "y"],
    }
