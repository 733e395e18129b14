"""The renderer makes real MP4s: exact size and length, a reference as frame 0, audio, stills."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from sorakit.providers.simulator.render import (
    AUDIO_RATE,
    RenderResult,
    Segment,
    read_clip,
    render,
    tone_frequency,
)

PROMPT = "A calico cat playing a piano on stage under warm spotlights"


def run(tmp_path: Path, segments: list[Segment], width: int, height: int) -> RenderResult:
    return render(
        segments,
        width,
        height,
        tmp_path / "video.mp4",
        tmp_path / "thumbnail.webp",
        tmp_path / "spritesheet.jpg",
        threads=1,
    )


@pytest.mark.parametrize(
    ("width", "height", "seconds"),
    [(1280, 720, 2.0), (720, 1280, 1.0), (500, 376, 1.5)],
    ids=["landscape-720p", "portrait-720p", "odd-aspect"],
)
def test_exact_size_frame_count_and_duration(
    tmp_path: Path, sim: Any, width: int, height: int, seconds: float
) -> None:
    result = run(
        tmp_path, [Segment(PROMPT, seconds, seed=7, label="sora-2 · generate")], width, height
    )

    frames = round(seconds * 24)
    assert result.frames == frames
    assert result.seconds == pytest.approx(seconds)
    video = tmp_path / "video.mp4"
    assert result.video_bytes == video.stat().st_size
    with av.open(str(video)) as container:
        vstream, astream = container.streams.video[0], container.streams.audio[0]
        assert vstream.codec_context.name == "h264"
        assert (vstream.codec_context.width, vstream.codec_context.height) == (width, height)
        assert vstream.codec_context.pix_fmt == "yuv420p"
        assert float(vstream.duration * vstream.time_base) == pytest.approx(seconds, abs=1e-6)
        assert astream.codec_context.name == "aac"
        assert astream.rate == AUDIO_RATE
    decoded = sim.decode_frames(video)
    assert len(decoded) == frames
    assert decoded[0].shape == (height, width, 3)
    samples, rate = sim.decode_audio(video)
    assert rate == AUDIO_RATE
    assert len(samples) / rate == pytest.approx(seconds, abs=0.03)
    assert float(np.sqrt(np.mean(samples**2))) > 0.02, "the audio must not be silent"


def test_faststart_puts_the_index_first(tmp_path: Path) -> None:
    run(tmp_path, [Segment(PROMPT, 0.5, seed=1)], 160, 96)

    head = (tmp_path / "video.mp4").read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)


def test_reference_is_frame_zero_and_then_evolves(tmp_path: Path, sim: Any) -> None:
    reference = sim.picture(320, 240, seed=3)

    run(tmp_path, [Segment(PROMPT, 1.0, seed=5, first_frame=reference)], 320, 240)

    frames = sim.decode_frames(tmp_path / "video.mp4")
    assert sim.mad(frames[0], np.asarray(reference)) < 4.0, "frame 0 is the reference"
    assert sim.mad(frames[-1], frames[0]) > 8.0, "later frames move away from it"
    assert sim.mad(frames[12], frames[0]) > 4.0


def test_another_seed_gives_a_visibly_different_video(tmp_path: Path, sim: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()

    first = run(one, [Segment(PROMPT, 1.0, seed=1)], 256, 144)
    second = run(two, [Segment(PROMPT, 1.0, seed=2)], 256, 144)

    assert first.frames == second.frames
    a, b = sim.decode_frames(one / "video.mp4"), sim.decode_frames(two / "video.mp4")
    assert a[0].shape == b[0].shape
    assert min(sim.mad(x, y) for x, y in zip(a, b, strict=True)) > 10.0


def test_same_seed_renders_the_same_pictures(tmp_path: Path, sim: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()

    run(one, [Segment(PROMPT, 0.5, seed=9)], 128, 96)
    run(two, [Segment(PROMPT, 0.5, seed=9)], 128, 96)

    a, b = sim.decode_frames(one / "video.mp4"), sim.decode_frames(two / "video.mp4")
    assert max(sim.mad(x, y) for x, y in zip(a, b, strict=True)) == 0.0


def test_the_prompt_is_drawn_in_the_bottom_caption(tmp_path: Path, sim: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()

    run(one, [Segment("a red fox", 0.5, seed=4)], 320, 180)
    run(two, [Segment("a very different prompt about a lighthouse", 0.5, seed=4)], 320, 180)

    a = sim.decode_frames(one / "video.mp4")[5]
    b = sim.decode_frames(two / "video.mp4")[5]
    bottom, top = slice(130, 180), slice(40, 120)
    assert sim.mad(a[bottom], b[bottom]) > 5.0
    assert sim.mad(a[top], b[top]) < 2.0


def test_extension_continues_from_the_last_frame(tmp_path: Path, sim: Any) -> None:
    segments = [
        Segment(PROMPT, 1.0, seed=1, label="sora-2 · generate"),
        Segment(
            "then it takes a bow", 1.0, seed=2, continue_previous=True, label="sora-2 · extend"
        ),
        Segment("and the curtain falls", 0.5, seed=3, continue_previous=True),
    ]

    result = run(tmp_path, segments, 256, 144)

    assert result.frames == 24 + 24 + 12
    frames = sim.decode_frames(tmp_path / "video.mp4")
    assert len(frames) == 60
    assert sim.mad(frames[24], frames[23]) < 2.0, "segment 2 starts on segment 1's last frame"
    assert sim.mad(frames[48], frames[47]) < 2.0
    assert sim.mad(frames[47], frames[24]) > 4.0, "and evolves from there"
    samples, rate = sim.decode_audio(tmp_path / "video.mp4")
    assert len(samples) / rate == pytest.approx(2.5, abs=0.03)


def test_audio_pitch_follows_the_prompt(tmp_path: Path, sim: Any) -> None:
    prompts = ["a calico cat", "a lighthouse at dawn", "two robots dancing", "rain on a window"]
    frequencies = {tone_frequency(p) for p in prompts}
    assert len(frequencies) > 1
    assert all(196 <= f <= 784 for f in frequencies)

    run(tmp_path, [Segment(prompts[1], 2.0, seed=1)], 64, 64)

    samples, rate = sim.decode_audio(tmp_path / "video.mp4")
    spectrum = np.abs(np.fft.rfft(samples[rate // 4 : rate // 4 + rate]))
    peak = float(np.fft.rfftfreq(rate, 1 / rate)[int(np.argmax(spectrum))])
    assert peak == pytest.approx(tone_frequency(prompts[1]), rel=0.03)


def test_thumbnail_is_webp_and_spritesheet_is_jpeg(tmp_path: Path) -> None:
    run(tmp_path, [Segment(PROMPT, 1.0, seed=1)], 320, 180)

    thumbnail = (tmp_path / "thumbnail.webp").read_bytes()
    assert thumbnail[:4] == b"RIFF" and thumbnail[8:12] == b"WEBP"
    with Image.open(tmp_path / "thumbnail.webp") as image:
        assert (image.format, image.size) == ("WEBP", (320, 180))
    assert (tmp_path / "spritesheet.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(tmp_path / "spritesheet.jpg") as image:
        assert image.format == "JPEG"
        assert image.size == (5 * 192, 2 * 108)  # ten tiles, five across, 192 px long side
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "spritesheet.jpg",
        "thumbnail.webp",
        "video.mp4",
    ], "no temp files are left behind"


def test_thumbnail_is_capped_at_1280_and_short_videos_have_fewer_tiles(tmp_path: Path) -> None:
    run(tmp_path, [Segment(PROMPT, 0.25, seed=1)], 1920, 1080)

    with Image.open(tmp_path / "thumbnail.webp") as image:
        assert image.size == (1280, 720)
    with Image.open(tmp_path / "spritesheet.jpg") as image:
        assert image.size == (5 * 192, 2 * 108)
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    run(tiny, [Segment(PROMPT, 0.1, seed=1)], 64, 64)  # 2 frames
    with Image.open(tiny / "spritesheet.jpg") as image:
        assert image.size == (2 * 64, 64)


def test_rendering_replaces_an_existing_video_atomically(tmp_path: Path, sim: Any) -> None:
    (tmp_path / "video.mp4").write_bytes(b"old")

    run(tmp_path, [Segment(PROMPT, 0.25, seed=1)], 64, 64)

    assert len(sim.decode_frames(tmp_path / "video.mp4")) == 6


@pytest.mark.parametrize(("width", "height"), [(0, 64), (63, 64), (64, -2)])
def test_bad_sizes_are_refused(tmp_path: Path, width: int, height: int) -> None:
    with pytest.raises(ValueError, match="even"):
        run(tmp_path, [Segment(PROMPT, 1.0, seed=1)], width, height)


def test_no_segments_and_wrong_reference_size_are_refused(tmp_path: Path, sim: Any) -> None:
    with pytest.raises(ValueError, match="segment"):
        run(tmp_path, [], 64, 64)
    with pytest.raises(ValueError, match="not 64x64"):
        run(tmp_path, [Segment(PROMPT, 1.0, seed=1, first_frame=sim.picture(32, 32))], 64, 64)
    assert not (tmp_path / "video.mp4").exists()


def test_long_prompts_and_many_badges_still_render(tmp_path: Path, sim: Any) -> None:
    prompt = " ".join(["supercalifragilisticexpialidocious" * 3] + ["word"] * 400)
    segment = Segment(prompt, 0.25, seed=1, label="x" * 200, characters=("mochi", "rex", "z" * 80))

    run(tmp_path, [segment], 128, 72)

    assert len(sim.decode_frames(tmp_path / "video.mp4")) == 6


def test_read_clip_gives_first_frame_size_and_length(sim: Any) -> None:
    clip = read_clip(sim.make_mp4(seconds=1.0, size=(96, 64)))

    assert (clip.width, clip.height) == (96, 64)
    assert clip.seconds == pytest.approx(1.0, abs=0.1)
    assert sim.mad(np.asarray(clip.first_frame), np.asarray(sim.picture(96, 64, seed=0))) < 8.0
    with pytest.raises(Exception):  # noqa: B017 - PyAV's error types vary by version
        read_clip(b"not a video")


@pytest.mark.parametrize("continued", [False, True])
def test_partial_repaints_equal_full_repaints(continued: bool) -> None:
    from sorakit.providers.simulator.paint import LastFrame, Painter

    size = (320, 180)
    segment = Segment(PROMPT, 3.0, seed=11, label="sora-2 · extend", characters=("mochi",))
    previous = None
    if continued:
        grey = np.full((180, 320), 90, np.uint8), np.full((90, 160), 128, np.uint8)
        planes = (grey[0], grey[1], grey[1].copy())
        previous = LastFrame(clean=planes, shown=planes)
        segment = Segment(PROMPT, 3.0, seed=11, continue_previous=True)
    fast = Painter(segment, size, 24, (72, 0, 72), previous)
    full = Painter(segment, size, 24, (72, 0, 72), previous)
    reused = (
        np.zeros((180, 320), np.uint8),
        np.zeros((90, 160), np.uint8),
        np.zeros((90, 160), np.uint8),
    )
    restored = 0
    for i in range(72):
        before = fast._painted
        fast.paint(i, reused)
        restored += i > 0 and before == fast._painted
        fresh = (np.zeros_like(reused[0]), np.zeros_like(reused[1]), np.zeros_like(reused[2]))
        full._painted = None
        full.paint(i, fresh)
        for a, b in zip(reused, fresh, strict=True):
            assert np.array_equal(a, b), f"frame {i} differs"
    assert restored > 10, "the partial path was exercised"
