from __future__ import annotations

import numpy as np
import pytest

from sorakit.media import contact_sheet, first_frame, frame_at, frames_evenly, last_frame, thumbnail

from .media_clips import MakeClip, decode_all


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seconds": 2.0},  # one keyframe: the whole clip is one GOP
        {"seconds": 3.0, "gop": 48},  # 2 s GOP
        {"seconds": 0.5, "gop": 6},  # shorter than the seek window
        {"seconds": 1.5, "fps": 30, "size": (160, 288)},
    ],
)
def test_last_frame_is_pixel_identical_to_a_full_decode(
    make_clip: MakeClip, kwargs: dict[str, object]
) -> None:
    path = make_clip(**kwargs)
    frames = decode_all(path)
    got = np.asarray(last_frame(path))
    assert np.array_equal(got, frames[-1])
    assert not np.array_equal(got, frames[-2])


def test_first_and_at(make_clip: MakeClip) -> None:
    path = make_clip(seconds=2.0, gop=12)
    frames = decode_all(path)
    assert np.array_equal(np.asarray(first_frame(path)), frames[0])
    assert np.array_equal(np.asarray(frame_at(path, 1.0)), frames[24])
    assert np.array_equal(np.asarray(frame_at(path, 0.99)), frames[23])
    assert np.array_equal(np.asarray(frame_at(path, 60)), frames[-1])


def test_rotated_clip_frames_are_upright(make_clip: MakeClip) -> None:
    path = make_clip(rotate=90, seconds=0.5)
    assert last_frame(path).size == (180, 320)
    assert last_frame(path, autorotate=False).size == (320, 180)


def test_frames_evenly_and_contact_sheet(make_clip: MakeClip) -> None:
    path = make_clip(seconds=1.0)
    frames = decode_all(path)
    picks = frames_evenly(path, 4)
    assert [
        np.array_equal(np.asarray(p), frames[i]) for p, i in zip(picks, (0, 8, 15, 23), strict=True)
    ] == [True] * 4
    sheet = contact_sheet(path, columns=3, rows=2, tile_width=80)
    assert sheet.size == (240, 90)
    assert thumbnail(path, width=64).size == (64, 36)
