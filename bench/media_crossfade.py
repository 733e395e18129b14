"""Crossfaded join (re-encode only around the seams) vs a full re-encode of the same clips.

Run: .venv/bin/python bench/media_crossfade.py
Clips: 5 x 8 s 720p with a 2 s GOP (one keyframe per clip would force whole clips to be redone),
x264 defaults (`medium`, CRF 23). Each strategy runs at the re-encode's default speed preset
(`veryfast`) and at the clips' own preset (`medium`), so each ratio compares like with like.
"""

from __future__ import annotations

import time
from pathlib import Path

from _clips import RESULTS, clip
from sorakit.media import EncodeTarget, StitchResult, probe, stitch
from sorakit.media.stitch import copy_compatible


def run(clips: list[Path], name: str, **kwargs: object) -> tuple[float, StitchResult]:
    start = time.perf_counter()
    result = stitch(clips, RESULTS / name, crossfade=0.5, **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - start, result


def main() -> None:
    clips = [clip(f"x{i}.mp4", seconds=8.0, gop=48, seed=i, tone=200 + 100 * i) for i in range(5)]
    infos = [probe(c) for c in clips]
    assert copy_compatible(infos)[0]
    medium = EncodeTarget.from_info(infos[0], preset="medium", crf=23)
    stitch(clips, RESULTS / "xf-warm.mp4")  # page cache and encoder libraries warm
    rows = []
    for preset, target in (("veryfast", None), ("medium", medium)):
        partial = run(clips, f"xf-{preset}.mp4", target=target)
        full = run(clips, f"xf-full-{preset}.mp4", target=target, reencode=True)
        rows.append((f"seam windows only, x264 {preset}", partial, full[0]))
        rows.append((f"full re-encode, x264 {preset}", full, full[0]))
    print("| method | wall s | strategy | frames | copied | re-encoded | MB | vs full re-encode |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (seconds, r), full_s in rows:
        size = r.path.stat().st_size / 1e6
        print(
            f"| {name} | {seconds:.2f} | {r.strategy} | {r.frames} | {r.copied_frames}"
            f" | {r.reencoded_frames} | {size:.1f} | {seconds / full_s:.2f}x |"
        )


if __name__ == "__main__":
    main()
