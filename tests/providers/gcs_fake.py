"""A fake of Cloud Storage's JSON API media download, for Veo outputs written to `storageUri`.

`GET /download/storage/v1/b/{bucket}/o/{object}?alt=media` with `Authorization: Bearer <token>`:
401 `UNAUTHENTICATED` without the token, 404 for an unknown object, else the object's bytes.
The object name arrives URL-encoded (`a%2Fb.mp4`); the raw paths are kept for tests to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

ROUTE = "/download/storage/v1/b/{bucket}/o/{name:path}"


def _error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": status}}, status_code=code
    )


class FakeGcs:
    """Objects by `(bucket, name)`, each a callable that makes (or finds) the file to serve."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token
        self.objects: dict[tuple[str, str], Callable[[], Path]] = {}
        self.raw_paths: list[str] = []

    def route(self) -> Route:
        return Route(ROUTE, self.download, methods=["GET"])

    def put(self, uri: str, make: Callable[[], Path]) -> None:
        """Store an object at `gs://bucket/name`."""
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        self.objects[(bucket, name)] = make

    async def download(self, request: Request) -> Response:
        self.raw_paths.append(request.scope["raw_path"].decode())
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(401, "UNAUTHENTICATED", "Anonymous caller does not have access.")
        if request.query_params.get("alt") != "media":
            return _error(400, "INVALID_ARGUMENT", "this fake serves only alt=media")
        key = (request.path_params["bucket"], request.path_params["name"])
        make = self.objects.get(key)
        if make is None:
            return _error(404, "NOT_FOUND", f"No such object: {key[0]}/{key[1]}")
        path = await asyncio.to_thread(make)
        return FileResponse(path, media_type="video/mp4")
