"""Streaming a Cloud Storage object (`gs://bucket/object`) through the JSON API with httpx.

Veo on Vertex writes its videos to the bucket named by `storageUri`; the object is read with
`GET {base}/download/storage/v1/b/{bucket}/o/{object, url-encoded}?alt=media` and the same OAuth
bearer token as Vertex, chunk by chunk, so a 4k clip never sits whole in memory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx

from sorakit.errors import ConfigurationError, ProviderError
from sorakit.providers._http import HTTPX_ERRORS, checked_chunks, content_length, read_quietly
from sorakit.providers.base import Download
from sorakit.providers.google._errors import from_status, translate

logger = logging.getLogger(__name__)

GCS_BASE_URL = "https://storage.googleapis.com"


def split_gs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/a/b.mp4` -> `("bucket", "a/b.mp4")`; anything else is refused."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket or not name:
        raise ProviderError(f"{uri!r} is not a Cloud Storage object URI (gs://bucket/object)")
    return bucket, name


def check_output_uri(uri: str) -> str:
    """A `gs://bucket/prefix/` output location, or a configuration error that says why not."""
    if not uri.startswith("gs://") or not uri.removeprefix("gs://").split("/")[0]:
        raise ConfigurationError(
            f"vertex_output_gcs_uri must look like gs://bucket/prefix/, not {uri!r}"
        )
    return uri


class GcsReader:
    """Reads Cloud Storage objects with a bearer token; `base_url` points it at a fake."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        proxy: str | None = None,
    ):
        self._provider = provider
        self._base_url = (base_url or GCS_BASE_URL).rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), proxy=proxy
        )

    def url(self, uri: str) -> str:
        """The JSON API media URL of a `gs://` object (the object name is fully encoded)."""
        bucket, name = split_gs_uri(uri)
        return (
            f"{self._base_url}/download/storage/v1/b/{quote(bucket, safe='')}"
            f"/o/{quote(name, safe='')}?alt=media"
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    @asynccontextmanager
    async def stream(self, uri: str, token: str, media_type: str) -> AsyncIterator[Download]:
        """The object's bytes as a `Download`; HTTP errors become sorakit errors."""
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        try:
            request = self._http.build_request("GET", self.url(uri), headers=headers)
            response = await self._http.send(request, stream=True)
        except HTTPX_ERRORS as exc:
            raise translate(exc, provider=self._provider) from exc
        try:
            if not response.is_success:
                await read_quietly(response, self._provider)
                message = f"Cloud Storage answered HTTP {response.status_code} for {uri}"
                if response.status_code == 404:
                    message += " (the object is gone: a bucket lifecycle rule may have removed it)"
                raise from_status(
                    response.status_code, message, None, response.headers, provider=self._provider
                )
            expected = content_length(response)
            logger.debug("%s: streaming %s (%s bytes)", self._provider, uri, expected)
            yield Download(
                chunks=checked_chunks(response, expected, provider=self._provider),
                media_type=media_type,
                expected_size=expected,
            )
        finally:
            await response.aclose()
