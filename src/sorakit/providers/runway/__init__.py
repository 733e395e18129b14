"""The `runway` provider: Runway's task API through the official `runwayml` SDK.

Runway is a multi-vendor router: besides its own Gen-4 models it serves Veo 3.1, Kling 3.0,
Seedance 2, Gemini Omni Flash, Happy Horse, Hailuo 3, Wan 3 and Grok Imagine 1.5 behind one
secret (`RUNWAYML_API_SECRET`).

- `_provider`: `RunwayProvider`, the provider seam over `runwayml.AsyncRunwayML`.
- `_requests`: a `SubmitRequest` as a create call (endpoint, ratio or resolution, integer
  duration, first/last frames and references as data URIs)
  and the remote id (`"<model>|<WxH>|<seconds>|<task id>"`).
- `_errors`: the one translation of SDK and download failures into `sorakit.errors`.

The model table lives in `sorakit.catalog.runway`, so listing models never imports the SDK.
"""

from __future__ import annotations

from sorakit.providers.runway._provider import RUNWAY_VERSION, RunwayProvider

__all__ = ["RUNWAY_VERSION", "RunwayProvider"]
