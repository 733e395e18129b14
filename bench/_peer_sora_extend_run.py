"""Run the peer `sora-extend` (PyPI 0.1.3) as its `generate` command does, against a base URL.

Executed by the scratch virtualenv's interpreter (see `peer_sora_extend.py`), never by ours: it
imports only the standard library and `sora_extend` (with its own dependencies). The only change
to the peer is where it sends requests: `sora_extend.sora_api.API_BASE` (hard-coded to OpenAI)
and the planner's OpenAI client `base_url`. Its poll interval (2 s), JPEG last frame and MoviePy
concatenation are its own.

Usage: python _peer_sora_extend_run.py BASE_URL PROMPT SECONDS_PER_SEGMENT COUNT SIZE OUT_DIR
Writes OUT_DIR/result.json: phase timings and the paths it wrote.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    base, prompt, seconds, count, size, out = sys.argv[1:7]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)

    import sora_extend
    import sora_extend.sora_api as api
    from openai import OpenAI
    from sora_extend.pipeline import chain_generate_sora
    from sora_extend.planner import plan_prompts_with_ai
    from sora_extend.video_utils import concatenate_segments

    api.API_BASE = f"{base}/v1"  # the one line aiming it at `sorakit serve`
    client = OpenAI(api_key="sk-bench", base_url=f"{base}/v1")
    started = time.time()
    segments = plan_prompts_with_ai(
        prompt, int(seconds), int(count), "gpt-5", client, print_progress=False
    )
    planned = time.time()
    paths = chain_generate_sora(
        segments, size, "sora-2", "sk-bench", out_dir, poll_interval=2, print_progress=False
    )
    generated = time.time()
    final = out_dir / "final.mp4"
    concatenate_segments(paths, final, print_progress=False)
    ended = time.time()
    result = {
        "version": sora_extend.__version__,
        "started": started,
        "plan": planned - started,
        "segments_phase": generated - planned,
        "concatenate": ended - generated,
        "wall": ended - started,
        "segments": [str(p) for p in paths],
        "frames": [str(out_dir / f"segment_{i:02d}_last.jpg") for i in range(1, len(paths) + 1)],
        "video": str(final),
    }
    (out_dir / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
