"""`sorakit serve`: an OpenAI-compatible `/v1/videos` API over the engine."""

from sorakit.server.app import create_app

__all__ = ["create_app"]
