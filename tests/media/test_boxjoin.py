from __future__ import annotations

import errno
import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sorakit.media import probe, stitch
from sorakit.media.boxjoin import Declined, join_boxes
from sorakit.media.mp4boxes import Unsupported, top_level
from sorakit.media.mp4clip import read_clip
from sorakit.media.splice import Piece, splice
from sorakit.media.stitch import BOX_JOINED
from sorakit.providers.simulator.render import Segment, render

from .media_clips import MakeClip, decode_all


def remux(source: Path, dest: Path, **options: str) -> Path:
    """Copy a clip's packets into a new MP4 written with these muxer options."""
    with av.open(str(source)) as inp, av.open(str(dest), "w", options=options) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dest


def today_remux(clips: list[Path], dest: Path) -> Path:
    """The packet remux that `stitch` used before the box join (and falls back to)."""
    infos = [probe(c) for c in clips]
    fps = infos[0].video.frame_rate if infos[0].video else Fraction(24)
    pieces, start = [], 0
    for info in infos:
        assert info.video is not None
        audio_at = start / fps if info.audio is not None else None
        pieces.append(Piece(info.path, 0, info.video.frames, start, audio_at))
        start += info.video.frames
    splice(dest, pieces, fps)
    return dest


def decoded_video(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame (RGB) and its display index at 24 fps, decoded start to end."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, slots = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            slots.append(round((frame.pts or 0) * (frame.time_base or 0) * 24))
    return frames, slots


def decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def top_kinds(path: Path) -> list[bytes]:
    with path.open("rb") as file:
        return [b.kind for b in top_level(file, path.stat().st_size)]


def moov_bytes(path: Path) -> bytes:
    with path.open("rb") as file:
        moov = next(b for b in top_level(file, path.stat().st_size) if b.kind == b"moov")
        file.seek(moov.start)
        return file.read(moov.size)


def test_box_join_is_frame_exact_and_matches_the_remux(make_clip: MakeClip, tmp_path: Path) -> None:
    clips = [
        make_clip("a.mp4", seed=1),
        make_clip("b.mp4", seconds=1.5, seed=2, tone=660, gop=12),
        make_clip("c.mp4", seconds=0.5, seed=3, tone=880),
    ]
    result = stitch(clips, tmp_path / "abc.mp4")
    assert (result.strategy, result.audio, result.frames) == ("copy", "copy", 72)
    assert result.reason.endswith(BOX_JOINED)
    assert top_kinds(result.path)[:3] == [b"ftyp", b"moov", b"mdat"]  # faststart

    frames, slots = decoded_video(result.path)
    expected = [f for clip in clips for f in decode_all(clip)]
    assert len(frames) == len(expected) == 72
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))
    assert slots == list(range(72))  # one frame per slot, no gap or repeat at the seams

    reference = today_remux(clips, tmp_path / "remux.mp4")
    assert all(
        np.array_equal(x, y) for x, y in zip(frames, decoded_video(reference)[0], strict=True)
    )
    audio, remuxed = decoded_audio(result.path), decoded_audio(reference)
    assert audio.shape == remuxed.shape and np.array_equal(audio, remuxed)
    mine, theirs = read_clip(result.path), read_clip(reference)
    assert mine.audio is not None and theirs.audio is not None
    assert mine.audio.table.durations == theirs.audio.table.durations
    assert mine.audio.table.sizes == theirs.audio.table.sizes
    assert mine.video.table.durations == theirs.video.table.durations
    assert mine.video.table.composition == theirs.video.table.composition

    info = probe(result.path)
    assert info.video is not None and info.audio is not None
    assert info.video.frames == 72 and info.video.duration == pytest.approx(3.0, abs=1e-9)
    assert info.audio.duration == pytest.approx(3.0, abs=0.002)
    assert info.video.keyframes == (0, 24, 36, 48, 60)  # b's GOPs of 12 after a's 24 frames
    # Each clip's audio starts with its video, so the track shows exactly the video's length,
    # and its samples' decode times only advance (no gap, no overlap at the seams).
    assert sum(mine.audio.table.durations) - mine.audio.media_time == 3 * 48_000
    assert all(d > 0 for d in mine.audio.table.durations)


def test_box_join_without_audio(make_clip: MakeClip, tmp_path: Path) -> None:
    clips = [make_clip("a.mp4", audio=False, seed=1), make_clip("b.mp4", audio=False, seed=2)]
    result = stitch(clips, tmp_path / "ab.mp4")
    assert (result.strategy, result.audio) == ("copy", "none")
    assert result.reason.endswith(BOX_JOINED)
    frames, slots = decoded_video(result.path)
    expected = decode_all(clips[0]) + decode_all(clips[1])
    assert slots == list(range(48))
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))


def test_co64_offsets_when_past_the_threshold(make_clip: MakeClip, tmp_path: Path) -> None:
    clips = [make_clip("a.mp4", seed=1), make_clip("b.mp4", seed=2, tone=660)]
    infos = [probe(c) for c in clips]
    narrow, wide = tmp_path / "narrow.mp4", tmp_path / "wide.mp4"
    join_boxes(narrow, infos, Fraction(24), audio=True)
    join_boxes(wide, infos, Fraction(24), audio=True, co64_above=1000)
    moov_narrow, moov_wide = moov_bytes(narrow), moov_bytes(wide)
    assert b"stco" in moov_narrow and b"co64" not in moov_narrow
    assert b"co64" in moov_wide and b"stco" not in moov_wide
    frames, slots = decoded_video(wide)
    assert slots == list(range(48))
    assert all(np.array_equal(x, y) for x, y in zip(frames, decoded_video(narrow)[0], strict=True))
    assert np.array_equal(decoded_audio(wide), decoded_audio(narrow))
    assert read_clip(wide).video.table.positions[-1] > read_clip(narrow).video.table.positions[-1]


def test_fragmented_clip_falls_back_to_the_remux(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seed=1)
    fragmented = remux(
        make_clip("b.mp4", seed=2), tmp_path / "frag.mp4", movflags="frag_keyframe+empty_moov"
    )
    assert b"moof" in top_kinds(fragmented)
    result = stitch([a, fragmented], tmp_path / "out.mp4")
    assert result.strategy == "copy"
    assert "remuxed packet by packet" in result.reason and "fragmented" in result.reason
    frames, slots = decoded_video(result.path)
    assert slots == list(range(48))
    expected = decode_all(a) + decode_all(fragmented)
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))


def test_differing_timescales_fall_back_to_the_remux(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seed=1)
    b = remux(make_clip("b.mp4", seed=2), tmp_path / "b90k.mp4", video_track_timescale="90000")
    assert read_clip(b).video.timescale == 90_000 != read_clip(a).video.timescale
    result = stitch([a, b], tmp_path / "out.mp4")
    assert result.strategy == "copy"
    assert "remuxed packet by packet" in result.reason and "timescale differs" in result.reason
    assert decoded_video(result.path)[1] == list(range(48))


def test_mismatched_avcc_is_declined(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seed=1)
    b = make_clip("b.mp4", seed=2, options={"x264-params": "bframes=0:ref=1"})
    infos = [probe(a), probe(b)]
    with pytest.raises(Declined, match="video sample description differs"):
        join_boxes(tmp_path / "out.mp4", infos, Fraction(24), audio=True)


def test_truncated_or_foreign_files_are_declined(make_clip: MakeClip, tmp_path: Path) -> None:
    a = make_clip("a.mp4", seed=1)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(a.read_bytes()[: a.stat().st_size - 500])
    with pytest.raises(Unsupported, match="truncated"):
        read_clip(cut)
    with pytest.raises(Declined, match="truncated"):
        infos = [probe(a), replace(probe(a), path=cut)]  # as if it had changed since its probe
        join_boxes(tmp_path / "out.mp4", infos, Fraction(24), audio=True)
    with_audio = [probe(a), probe(make_clip("b.mp4", seed=2))]
    with pytest.raises(Declined, match="audio track that is not being copied"):
        join_boxes(tmp_path / "out.mp4", with_audio, Fraction(24), audio=False)


def test_audio_shorter_than_video_is_timed_as_the_remux(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    source = make_clip("a.mp4", seed=1)
    short = tmp_path / "short.mp4"
    with av.open(str(source)) as inp, av.open(str(short), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            late = packet.stream.type == "audio" and (packet.pts or 0) > 36_000
            if packet.dts is None or late:
                continue  # the audio stops 0.25 s before the video
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    clips = [short, make_clip("b.mp4", seed=2, tone=660)]
    result = stitch(clips, tmp_path / "out.mp4")
    assert result.reason.endswith(BOX_JOINED)
    reference = today_remux(clips, tmp_path / "remux.mp4")
    mine, theirs = read_clip(result.path), read_clip(reference)
    assert mine.audio is not None and theirs.audio is not None
    assert mine.audio.table.durations == theirs.audio.table.durations
    assert np.array_equal(decoded_audio(result.path), decoded_audio(reference))
    assert decoded_video(result.path)[1] == list(range(48))


def test_simulator_renders_join_at_the_box_level(tmp_path: Path) -> None:
    clips = []
    for n, (prompt, seconds) in enumerate([("a red kite", 1.0), ("a harbour at dusk", 1.5)]):
        names = [tmp_path / f"r{n}{suffix}" for suffix in (".mp4", ".webp", "-sprite.jpg")]
        render([Segment(prompt, seconds, seed=n)], 96, 54, *names, fps=24)
        clips.append(names[0])
    result = stitch(clips, tmp_path / "joined.mp4")
    assert (result.strategy, result.audio, result.frames) == ("copy", "copy", 60)
    assert result.reason.endswith(BOX_JOINED)
    frames, slots = decoded_video(result.path)
    expected = decode_all(clips[0]) + decode_all(clips[1])
    assert slots == list(range(60))
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))
    reference = today_remux(clips, tmp_path / "remux.mp4")
    assert np.array_equal(decoded_audio(result.path), decoded_audio(reference))


def test_b_frame_clips_keep_their_delay(make_clip: MakeClip, tmp_path: Path) -> None:
    options = {"x264-params": "bframes=3:b-adapt=0:b-pyramid=normal"}
    clips = [
        make_clip("a.mp4", seed=1, options=options),
        make_clip("b.mp4", seconds=1.5, seed=2, gop=12, options=options),
    ]
    assert len(set(read_clip(clips[0]).video.table.composition or [])) > 2  # frames reordered
    result = stitch(clips, tmp_path / "ab.mp4")
    assert result.reason.endswith(BOX_JOINED)
    frames, slots = decoded_video(result.path)
    assert slots == list(range(60))
    expected = decode_all(clips[0]) + decode_all(clips[1])
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))
    mine, theirs = read_clip(result.path), read_clip(today_remux(clips, tmp_path / "remux.mp4"))
    assert mine.video.media_time == theirs.video.media_time
    assert mine.video.table.composition == theirs.video.table.composition


@pytest.mark.parametrize(
    "specs",
    [
        [{"rotate": 90, "seed": 1}, {"rotate": 90, "seed": 2, "seconds": 0.5}],
        [{"fps": Fraction(30000, 1001), "seed": 1}, {"fps": Fraction(30000, 1001), "frames": 17}],
        # 25 frames at 24 fps put clip 2's audio 45937.5 ticks in: the remux's half-tick rounding.
        [{"frames": 25, "rate": 44_100}, {"frames": 13, "rate": 44_100, "seed": 2}],
    ],
    ids=["rotated", "ntsc-rate", "44.1-khz-half-ticks"],
)
def test_clip_variants_match_the_remux(
    make_clip: MakeClip, tmp_path: Path, specs: list[dict[str, object]]
) -> None:
    clips = [make_clip(f"c{n}.mp4", **spec) for n, spec in enumerate(specs)]
    result = stitch(clips, tmp_path / "out.mp4")
    assert result.reason.endswith(BOX_JOINED)
    reference = today_remux(clips, tmp_path / "remux.mp4")
    frames = decode_all(result.path)
    expected = [f for clip in clips for f in decode_all(clip)]
    assert len(frames) == len(expected) == result.frames
    assert all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))
    mine, theirs = read_clip(result.path), read_clip(reference)
    assert mine.audio is not None and theirs.audio is not None
    assert mine.audio.table.durations == theirs.audio.table.durations
    assert np.array_equal(decoded_audio(result.path), decoded_audio(reference))
    info, remuxed = probe(result.path), probe(reference)
    assert info.video is not None and remuxed.video is not None
    assert (info.video.rotation, info.video.frame_rate) == (
        remuxed.video.rotation,
        remuxed.video.frame_rate,
    )


def test_buffered_copy_when_the_kernel_cannot(
    make_clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = [make_clip("a.mp4", seed=1), make_clip("b.mp4", seed=2)]
    infos = [probe(c) for c in clips]
    kernel = tmp_path / "kernel.mp4"
    join_boxes(kernel, infos, Fraction(24), audio=True)

    def cross_device(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cross_device, raising=False)
    buffered = tmp_path / "buffered.mp4"
    join_boxes(buffered, infos, Fraction(24), audio=True)
    assert buffered.read_bytes() == kernel.read_bytes()
