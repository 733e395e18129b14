from __future__ import annotations

import random
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from sorakit.errors import MediaError
from sorakit.media import EncodeTarget, probe, stitch
from sorakit.media._av import Rescale, round_div
from sorakit.media.encode import _config_for, matching_encoder_options, source_colors
from sorakit.media.splice import Piece, splice
from sorakit.media.verify import verify_join

from .media_clips import MakeClip, count_frames


def test_integer_rescale_rounds_like_fractions() -> None:
    rng = random.Random(7)
    for _ in range(2_000):
        num, den = rng.randint(-(10**9), 10**9), rng.randint(1, 10**5)
        assert round_div(num, den) == round(Fraction(num, den))
    for _ in range(500):
        scale = Fraction(rng.randint(1, 90_000), rng.randint(1, 90_000))
        offset = Fraction(rng.randint(-(10**6), 10**6), rng.randint(1, 1001))
        origin, value = rng.randint(-3_000, 3_000), rng.randint(-(10**7), 10**7)
        rescale = Rescale(origin, scale, offset)
        assert rescale(value) == round((value - origin) * scale + offset)
        assert rescale.duration(abs(value)) == round(abs(value) * scale)


def test_verify_accepts_a_copy_join_and_rejects_wrong_expectations(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    a, b = make_clip("a.mp4", seconds=1.0, gop=12), make_clip("b.mp4", seconds=1.0, gop=12, seed=2)
    result = stitch([a, b], tmp_path / "ab.mp4")
    assert result.strategy == "copy"
    verify_join(result.path, 48, Fraction(24), [0, 24], audio=True)
    with pytest.raises(MediaError, match="wrote 48 frames where 49"):
        verify_join(result.path, 49, Fraction(24), [0, 24], audio=True)
    with pytest.raises(MediaError, match="one slot per frame"):  # 48 packets read at 25 fps
        verify_join(result.path, 48, Fraction(25), [0], audio=True)
    with pytest.raises(MediaError, match="no keyframe at splice point 5"):
        verify_join(result.path, 48, Fraction(24), [0, 5], audio=True)
    silent = make_clip("silent.mp4", audio=False)
    with pytest.raises(MediaError, match="audio track is missing"):
        verify_join(silent, 24, Fraction(24), [0], audio=True)


def test_verify_rejects_a_keyframe_that_does_not_decode(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    clip = make_clip("a.mp4", seconds=1.0, gop=12, audio=False)
    broken = tmp_path / "broken.mp4"
    shutil.copy(clip, broken)
    with av.open(str(clip)) as container:
        first = next(container.demux(video=0))
        pos, size = first.pos, first.size
    data = bytearray(broken.read_bytes())
    data[pos : pos + size] = bytes(size)  # the first keyframe's NAL units, all gone
    broken.write_bytes(bytes(data))
    verify_join(clip, 24, Fraction(24), [0], audio=False)
    with pytest.raises(MediaError, match="frame 0 does not decode|no keyframe at splice point 0"):
        verify_join(broken, 24, Fraction(24), [0], audio=False)


def test_splice_opens_each_clip_once_for_video_and_audio(
    make_clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sorakit.media.splice as splice_module

    a, b = make_clip("a.mp4", seed=1), make_clip("b.mp4", seconds=1.5, seed=2, tone=660)
    opened: list[Path] = []
    real = splice_module.open_input

    def spy(path: Path, **kwargs: bool) -> Any:
        opened.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(splice_module, "open_input", spy)
    pieces = [Piece(a, 0, 24, 0, Fraction(0)), Piece(b, 0, 36, 24, Fraction(1))]
    splice(tmp_path / "ab.mp4", pieces, Fraction(24))
    assert opened == [a, b]
    assert count_frames(tmp_path / "ab.mp4") == 60
    with pytest.raises(ValueError, match="every piece or of none"):
        splice(tmp_path / "x.mp4", [pieces[0], Piece(b, 0, 36, 24)], Fraction(24))


def test_seam_encoder_keeps_the_reencode_preset_and_pins_the_parameter_sets(
    make_clip: MakeClip,
) -> None:
    info = probe(make_clip("a.mp4", gop=12))  # x264 defaults: preset medium
    assert info.video is not None
    options = matching_encoder_options(info, EncodeTarget.from_info(info))
    assert options is not None and options["preset"] == "veryfast"
    assert "ref=3" in options["x264-params"] and "bframes=3" in options["x264-params"]
    colors = source_colors(info.path)
    assert _config_for(info.video, options, colors) == info.video.codec_config
    plain = {"preset": "veryfast", "crf": options["crf"]}
    assert _config_for(info.video, plain, colors) != info.video.codec_config
