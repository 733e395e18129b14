"""Google's video models behind the provider seam, through the official `google-genai` SDK.

- `_gemini`: `GeminiProvider` (`gemini`), Gemini Omni Flash on the Gemini API's Interactions API.
- `_vertex`: `VertexVeoProvider` (`vertex`), Veo 3.1 on Vertex AI (`predictLongRunning`).
- `_common`: sizes onto aspect ratio and resolution, remote ids, estimated progress, moderation.
- `_errors`: the one translation of SDK failures into `sorakit.errors`.
- `_gcs`: streaming Veo outputs from Cloud Storage (`gs://`) with the Vertex credentials.
"""

from __future__ import annotations

from sorakit.providers.google._gemini import GeminiProvider
from sorakit.providers.google._vertex import VertexVeoProvider

__all__ = ["GeminiProvider", "VertexVeoProvider"]
