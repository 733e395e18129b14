from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sorakit.errors import MediaError
from sorakit.media import last_frame, measure_loudness, probe, stitch, trim
from sorakit.media.audio import decode_audio

from .media_clips import MakeClip, count_frames, decode_all


def closest(frame: np.ndarray, candidates: list[np.ndarray]) -> int:
    """Index of the candidate nearest to `frame` (mean absolute difference)."""
    errors = [np.abs(frame.astype(np.int16) - c.astype(np.int16)).mean() for c in candidates]
    return int(np.argmin(errors))


def check_output(path: Path, frames: int, fps: int = 24, audio: bool = True) -> None:
    info = probe(path)
    assert info.video is not None
    assert info.video.frames == frames == count_frames(path)
    assert info.video.duration == pytest.approx(frames / fps, abs=1e-9)
    if audio:
        assert info.audio is not None
        assert info.audio.duration == pytest.approx(frames / fps, abs=0.002)


def test_copy_join_is_bit_exact(make_clip: MakeClip, tmp_path: Path) -> None:
    a, b = make_clip("a.mp4", seed=1), make_clip("b.mp4", seconds=1.5, seed=2, tone=660)
    result = stitch([a, b], tmp_path / "ab.mp4")
    assert (result.strategy, result.audio, result.frames) == ("copy", "copy", 60)
    check_output(result.path, 60)
    out = decode_all(result.path)
    expected = decode_all(a) + decode_all(b)
    assert all(np.array_equal(x, y) for x, y in zip(out, expected, strict=True))
    assert not list(tmp_path.glob(".ab.*"))  # no temporary left behind


def test_mismatched_clips_are_reencoded_to_the_first(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seed=1)
    tall = make_clip("tall.mp4", size=(160, 288), fps=30, seconds=1.0, seed=2)
    result = stitch([a, tall], tmp_path / "mixed.mp4")
    assert result.strategy == "reencode" and result.reason.startswith("size differs")
    check_output(result.path, 48)
    info = probe(result.path)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    last = decode_all(result.path)[-1]
    assert last[:, :100].mean() < 20  # letterbox bars on the left


def test_rotated_clip_is_turned_upright(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", size=(180, 320), audio=False)
    phone = make_clip("phone.mp4", size=(320, 180), rotate=90, audio=False)
    result = stitch([a, phone], tmp_path / "upright.mp4")
    assert result.strategy == "reencode" and "differs" in result.reason
    check_output(result.path, 48, audio=False)
    frames = decode_all(result.path)
    upright = np.asarray(last_frame(phone)).astype(np.int16)
    assert frames[-1].shape == upright.shape == (320, 180, 3)
    assert np.abs(frames[-1].astype(np.int16) - upright).mean() < 3


def test_chained_join_drops_the_repeated_frame(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seconds=2.0, gop=12, seed=1)
    b = make_clip("b.mp4", seconds=2.0, gop=12, seed=2)
    result = stitch([a, b], tmp_path / "chain.mp4", chained=True)
    assert result.strategy == "chained-partial"
    assert result.frames == 48 + 48 - 1 and result.copied_frames == 48 + 36
    check_output(result.path, 95)
    out, fa, fb = decode_all(result.path), decode_all(a), decode_all(b)
    assert all(np.array_equal(out[i], fa[i]) for i in range(48))
    assert [closest(out[48 + i], fb) for i in range(11)] == list(range(1, 12))
    assert all(np.array_equal(out[47 + i], fb[i]) for i in range(12, 48))


def test_chained_single_gop_clips_reencode_the_second(make_clip: MakeClip, tmp_path: Path) -> None:
    clips = [make_clip(f"{i}.mp4", seed=i) for i in range(3)]
    result = stitch(clips, tmp_path / "chain.mp4", chained=True)
    check_output(result.path, 72 - 2)
    out, fb = decode_all(result.path), decode_all(clips[1])
    assert closest(out[24], fb) == 1


def test_crossfade_reencodes_only_around_seams(make_clip: MakeClip, tmp_path: Path) -> None:
    clips = [
        make_clip(f"{i}.mp4", seconds=2.0, gop=12, seed=i, tone=300 * (i + 1)) for i in range(3)
    ]
    result = stitch(clips, tmp_path / "xf.mp4", crossfade=0.25)
    assert result.strategy == "crossfade-partial"
    assert result.frames == 3 * 48 - 2 * 6
    assert 0 < result.reencoded_frames < result.frames / 2
    check_output(result.path, 132)
    out, fa, fb = decode_all(result.path), decode_all(clips[0]), decode_all(clips[1])
    assert all(np.array_equal(out[i], fa[i]) for i in range(36))
    mid = out[42 + 2].astype(np.float32)  # inside the first crossfade: a blend of a[44] and b[2]
    blend = (fa[44].astype(np.float32) * 4 + fb[2].astype(np.float32) * 3) / 7
    assert np.abs(mid - blend).mean() < 4


def test_crossfade_falls_back_to_full_reencode(make_clip: MakeClip, tmp_path: Path) -> None:
    a, b = make_clip("a.mp4", seed=1), make_clip("b.mp4", seed=2, audio=False)
    result = stitch([a, b], tmp_path / "xf.mp4", crossfade=0.5)
    assert result.strategy == "reencode" and result.frames == 36
    check_output(result.path, 36)


def test_crossfade_too_long_is_refused(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seconds=0.5)
    with pytest.raises(MediaError, match="crossfade"):
        stitch([a, a, a], tmp_path / "x.mp4", crossfade=0.3)


def test_silence_for_clips_without_audio(make_clip: MakeClip, tmp_path: Path) -> None:
    a, b = make_clip("a.mp4", seed=1), make_clip("b.mp4", seed=2, audio=False)
    result = stitch([a, b], tmp_path / "ab.mp4")
    assert (result.strategy, result.audio) == ("copy", "reencode")
    check_output(result.path, 48)
    samples = decode_audio(result.path, 48_000, "stereo")
    assert np.abs(samples[:, 2_000:46_000]).max() > 0.05
    assert np.abs(samples[:, 50_000:94_000]).max() < 1e-3


def test_loudness_matching(make_clip: MakeClip, tmp_path: Path) -> None:
    quiet = make_clip("quiet.mp4", amplitude=0.02, seconds=2.0)
    loud = make_clip("loud.mp4", amplitude=0.3, seconds=2.0, seed=2)
    assert measure_loudness(loud) - measure_loudness(quiet) == pytest.approx(23.5, abs=0.3)
    result = stitch([quiet, loud], tmp_path / "level.mp4", loudness=True)
    samples = decode_audio(result.path, 48_000, "stereo")
    from sorakit.media.audio import integrated_loudness

    first = integrated_loudness(samples[:, 4_800:91_200], 48_000)
    second = integrated_loudness(samples[:, 100_800:187_200], 48_000)
    assert first == pytest.approx(-23, abs=0.5) and second == pytest.approx(-23, abs=0.5)


@pytest.mark.parametrize(
    ("seconds", "frames", "strategy"),
    [(1.0, 24, "copy"), (1.3, 31, "trim-partial"), (9, 48, "copy")],
)
def test_trim_is_frame_exact(
    make_clip: MakeClip, tmp_path: Path, seconds: float, frames: int, strategy: str
) -> None:
    src = make_clip("long.mp4", seconds=2.0, gop=12)
    result = trim(src, tmp_path / "short.mp4", seconds)
    assert (result.frames, result.strategy) == (frames, strategy)
    check_output(result.path, frames)
    out, full = decode_all(result.path), decode_all(src)
    assert all(np.array_equal(out[i], full[i]) for i in range(min(frames, 24)))
    assert [closest(out[i], full) for i in range(24, frames)] == list(range(24, frames))
