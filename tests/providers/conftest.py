"""Fixtures of the fal tests that share one fake queue (`test_fal_inputs`, `_platform`,
`_webhooks`). A test module that defines a fixture of the same name uses its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sorakit.providers.fal import FalProvider
from tests.providers.fal_fake import FakeFalQueue, make, rendered_mp4


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real MP4 the fake serves as every request's output."""
    return rendered_mp4(tmp_path_factory.mktemp("fal"))


@pytest.fixture
def fake(mp4: bytes) -> Iterator[FakeFalQueue]:
    queue = FakeFalQueue(mp4)
    yield queue
    queue.close()


@pytest.fixture
async def provider(fake: FakeFalQueue) -> AsyncIterator[FalProvider]:
    p = make(fake)
    yield p
    await p.aclose()
