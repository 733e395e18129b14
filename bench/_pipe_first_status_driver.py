"""The Open WebUI side of `pipe_first_status.py`, run with the Open WebUI venv's python.

Loads the pipe (served by sorakit) with Open WebUI's function loader and, per turn, times
`pipe()` from the call to its first status event, then cancels the turn (the job goes on at the
server). Prints the seconds as one JSON list. Standard library and Open WebUI only.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from typing import Any


async def main(url: str, turns: int) -> list[float]:
    from open_webui.utils.plugin import load_function_module_by_id

    with urllib.request.urlopen(f"{url}/openwebui/sorakit_pipe.py", timeout=10) as answer:
        source = answer.read().decode()
    pipe, _, _, _ = await load_function_module_by_id("sorakit", content=source)
    pipe.valves = pipe.Valves(SORAKIT_URL=url, POLL_INTERVAL_SECONDS=0)
    user = {"id": "bench", "email": "bench@example.com", "name": "Bench", "role": "user"}
    seconds = []
    for number in range(turns + 1):  # the first one warms the connection path up
        first = asyncio.get_running_loop().create_future()

        async def record(event: dict[str, Any], first: asyncio.Future[float] = first) -> None:
            if not first.done():
                first.set_result(time.perf_counter())

        body = {
            "model": "sorakit.sora-2",
            "messages": [{"role": "user", "content": f"a lighthouse at dusk, take {number}"}],
            "stream": True,
        }
        started = time.perf_counter()
        turn = asyncio.create_task(pipe.pipe(body=body, __user__=user, __event_emitter__=record))
        done = await asyncio.wait_for(first, timeout=60)
        turn.cancel()
        await asyncio.gather(turn, return_exceptions=True)
        if number:
            seconds.append(done - started)
    return seconds


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))) + "\n")
