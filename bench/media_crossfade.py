"""Crossfaded join (re-encode only around the seams) vs a full re-encode of the same clips.

Run: .venv/bin/python bench/media_crossfade.py
Clips: 5 x 8 s 720p with a 2 s GOP (one keyframe per clip would force whole clips to be redone).
"""

from __future__ import annotations

from _clips import RESULTS, clip, timed
from sorakit.media import stitch
from sorakit.media.probe import probe
from sorakit.media.stitch import copy_compatible


def main() -> None:
    clips = [clip(f"x{i}.mp4", seconds=8.0, gop=48, seed=i, tone=200 + 100 * i) for i in range(5)]
    rows = []
    for label, crossfade in (("crossfade 0.5 s, partial", 0.5),):
        partial_s = timed(
            lambda c=crossfade: stitch(clips, RESULTS / "xf.mp4", crossfade=c), runs=1
        )
        result = stitch(clips, RESULTS / "xf.mp4", crossfade=crossfade)
        rows.append((label, partial_s, result))
    assert copy_compatible([probe(c) for c in clips])[0]
    full_s = timed(
        lambda: stitch(clips, RESULTS / "xf-full.mp4", crossfade=0.5, reencode=True), runs=1
    )
    full = stitch(clips, RESULTS / "xf-full.mp4", crossfade=0.5, reencode=True)
    rows.append(("crossfade 0.5 s, full re-encode", full_s, full))
    print("| method | wall s | strategy | frames | copied | re-encoded | vs full re-encode |")
    print("|---|---|---|---|---|---|---|")
    for name, seconds, r in rows:
        print(
            f"| {name} | {seconds:.2f} | {r.strategy} | {r.frames} | {r.copied_frames} | {r.reencoded_frames} | {seconds / full_s:.2f}x |"
        )


if __name__ == "__main__":
    main()
