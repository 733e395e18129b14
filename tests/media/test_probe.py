from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from sorakit.errors import MediaError
from sorakit.media import can_stream_copy, probe

from .media_clips import MakeClip


def test_probe_reads_streams_and_counts_frames(make_clip: MakeClip) -> None:
    info = probe(make_clip("a.mp4", seconds=1.5, gop=12))
    assert info.video is not None and info.audio is not None
    v = info.video
    assert (v.codec, v.width, v.height, v.pix_fmt) == ("h264", 320, 180, "yuv420p")
    assert v.frame_rate == Fraction(24) and v.constant_frame_rate
    assert v.frames == 36 and v.duration == pytest.approx(1.5)
    assert v.keyframes == (0, 12, 24)
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (48_000, 2, "aac")
    data = json.loads(json.dumps(info.to_dict()))
    assert data["video"]["frame_rate"] == "24"


def test_probe_reads_rotation(make_clip: MakeClip) -> None:
    info = probe(make_clip("r.mp4", rotate=90, audio=False))
    assert info.video is not None and info.audio is None
    assert info.video.rotation == 90 and info.video.display_size == (180, 320)


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        ({"size": (160, 288)}, "size differs"),
        ({"fps": 30}, "frame rate differs"),
        ({"audio": False}, "audio presence differs"),
        ({"options": {"preset": "veryfast"}}, "video codec configuration differs"),
        ({"rotate": 90}, "rotation differs"),
    ],
)
def test_can_stream_copy_names_the_first_mismatch(
    make_clip: MakeClip, other: dict[str, object], reason: str
) -> None:
    a = probe(make_clip("a.mp4"))
    assert can_stream_copy(a, probe(make_clip("same.mp4", seed=3))) == (True, "compatible")
    ok, why = can_stream_copy(a, probe(make_clip("b.mp4", **other)))
    assert not ok and why.startswith(reason)


def test_probe_refuses_bad_files(tmp_path: Path, make_clip: MakeClip) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(MediaError, match="empty"):
        probe(empty)
    with pytest.raises(MediaError, match="not a readable media file"):
        probe(text)
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    clip = make_clip("whole.mp4", seconds=2)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)


def test_probe_refuses_audio_only(tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48_000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 4800), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48_000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)
    assert probe(path, require_video=False).audio is not None
