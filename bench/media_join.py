"""Joining 5 x 8 s 720p clips: sorakit stream copy vs `cat` of the same bytes (the I/O limit) vs a
full re-encode (MoviePy's way in sora-extend: decode everything, encode again) vs the ffmpeg CLI.

Run: .venv/bin/python bench/media_join.py
"""

from __future__ import annotations

import shutil
import subprocess

from _clips import RESULTS, clip, timed
from sorakit.media import stitch


def main() -> None:
    clips = [clip(f"j{i}.mp4", seconds=8.0, seed=i, tone=200 + 100 * i) for i in range(5)]
    out = RESULTS / "joined.mp4"
    rows = []
    copy_s = timed(lambda: stitch(clips, out), runs=3)
    result = stitch(clips, out)
    rows.append(("sorakit stitch (stream copy, checked)", copy_s, result.strategy, result.frames))
    cat_s = timed(
        lambda: subprocess.run(
            f"cat {' '.join(map(str, clips))} > {RESULTS / 'cat.bin'}", shell=True, check=True
        ),
        runs=5,
    )
    rows.append(("`cat` of the same bytes (I/O limit)", cat_s, "-", 0))
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        listing = RESULTS / "list.txt"
        listing.write_text("".join(f"file '{c}'\n" for c in clips))
        cmd = [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(RESULTS / "ff.mp4"),
        ]
        rows.append(
            (
                "ffmpeg concat demuxer -c copy (unchecked)",
                timed(lambda: subprocess.run(cmd, check=True), runs=3),
                "copy",
                0,
            )
        )
    full_s = timed(lambda: stitch(clips, RESULTS / "full.mp4", reencode=True), runs=1)
    full = stitch(clips, RESULTS / "full.mp4", reencode=True)
    rows.append(
        ("full re-encode, x264 veryfast (MoviePy's way)", full_s, full.strategy, full.frames)
    )
    print("| method | wall s (median) | strategy | frames | vs cat | sorakit copy speed-up |")
    print("|---|---|---|---|---|---|")
    for name, seconds, strategy, frames in rows:
        print(
            f"| {name} | {seconds:.3f} | {strategy} | {frames or '-'} | {seconds / cat_s:.1f}x | {seconds / copy_s:.1f}x |"
        )


if __name__ == "__main__":
    main()
