"""Exact last frame: sorakit vs the peers' OpenCV way vs the ffmpeg CLI (`-sseof -0.1 -update 1`).

Run: .venv/bin/python bench/media_last_frame.py   (OpenCV from /tmp/benchvenv if present)
Process columns are whole processes (interpreter start included); "in-process" is the call alone,
which is what a pipeline pays. Every result is checked for pixel-exactness against a full decode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from _clips import RESULTS, clip, timed

# A scratch venv with opencv-python-headless (never a project dependency); see docs/performance.md.
OPENCV_PY = Path(os.environ.get("OPENCV_PYTHON", "/tmp/benchvenv/bin/python"))
OURS = "import sys; from sorakit.media import last_frame; last_frame(sys.argv[1]).save(sys.argv[2])"
OPENCV = (
    "import sys, cv2; c = cv2.VideoCapture(sys.argv[1]); n = int(c.get(cv2.CAP_PROP_FRAME_COUNT));"
    "c.set(cv2.CAP_PROP_POS_FRAMES, n - 1); ok, f = c.read(); cv2.imwrite(sys.argv[2], f)"
)


def reference(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        last = None
        for frame in container.decode(video=0):
            last = frame
    assert last is not None
    return last.to_ndarray(format="rgb24")


def main() -> None:
    clips = {
        "one keyframe (8 s 720p)": clip("k1.mp4", seconds=8.0),
        "2 s GOP (8 s 720p)": clip("g48.mp4", seconds=8.0, gop=48),
    }
    ffmpeg = shutil.which("ffmpeg")
    from sorakit.media import last_frame

    print(
        "| clip | sorakit in-process (s) | sorakit process (s) | OpenCV process (s) | ffmpeg CLI (s) "
        "| in-process / CLI | process / CLI | exact: ours, OpenCV, CLI |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, path in clips.items():
        ref = reference(path)
        out = {k: RESULTS / f"last-{k}-{path.stem}.png" for k in ("ours", "cv", "cli")}
        cmds = {"ours": [sys.executable, "-c", OURS, str(path), str(out["ours"])]}
        if OPENCV_PY.exists():
            cmds["cv"] = [str(OPENCV_PY), "-c", OPENCV, str(path), str(out["cv"])]
        if ffmpeg:
            cmds["cli"] = [
                ffmpeg,
                "-v",
                "error",
                "-y",
                "-sseof",
                "-0.1",
                "-i",
                str(path),
                "-update",
                "1",
                str(out["cli"]),
            ]
        times = {
            k: timed(lambda c=c: subprocess.run(c, check=True), runs=3) for k, c in cmds.items()
        }
        inproc = timed(lambda path=path: last_frame(path), runs=5)
        exact = {
            k: np.array_equal(np.asarray(Image.open(out[k]).convert("RGB")), ref)
            if k in times
            else None
            for k in out
        }
        cli = times.get("cli")
        ratios = [f"{x / cli:.2f}x" if cli else "n/a (no ffmpeg)" for x in (inproc, times["ours"])]
        cells = [f"{inproc:.3f}"] + [
            f"{times[k]:.3f}" if k in times else "skipped" for k in ("ours", "cv", "cli")
        ]
        print(
            f"| {label} | {' | '.join(cells)} | {' | '.join(ratios)} | {exact['ours']}, {exact['cv']}, {exact['cli']} |"
        )


if __name__ == "__main__":
    main()
