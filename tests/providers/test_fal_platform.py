"""fal's Platform API through the adapter: billed costs (admin keys) and finding a lost submit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sorakit.catalog.catalog import Catalog
from sorakit.catalog.fal import fal_models
from sorakit.engine import Engine
from sorakit.errors import ProviderConnectionError
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.base import ReferenceImage
from sorakit.providers.fal import FalProvider, RemoteRef
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.providers.fal_fake import (
    API,
    MODERATION_WORD,
    QUEUE,
    FakeFalQueue,
    Fault,
    QuickFal,
    generate,
)

LOST = Fault(raises=httpx.ReadTimeout("the answer was lost"), after=True)


# -- billed costs -----------------------------------------------------------------------------


async def test_an_admin_key_reads_the_billed_cost_of_a_finished_request(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    fake.admin_keys.add(fake.key)
    fake.unit_price = 0.123
    job = await provider.submit(generate(seconds=7))
    assert (await provider.retrieve(job.id)).cost is None  # still queued: nothing billed
    assert not fake.calls("platform")
    fake.advance(3600)
    done = await provider.retrieve(job.id)
    assert done.status == "completed"
    assert done.cost == pytest.approx(7 * 0.123)
    call = fake.calls("platform")[-1]
    assert call.url.path == "/v1/models/billing-events"
    assert call.url.params["request_id"] == RemoteRef.parse(job.id).request_id
    assert call.headers["authorization"] == f"Key {fake.key}"


async def test_an_ordinary_key_keeps_the_estimate_and_stops_asking(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    first = await provider.submit(generate())
    second = await provider.submit(generate(prompt="a dog"))
    fake.advance(3600)
    assert (await provider.retrieve(first.id)).cost is None
    assert (await provider.retrieve(second.id)).cost is None
    assert len(fake.calls("platform")) == 1  # one 403, then no more billing calls


async def test_a_failed_request_is_not_billed(provider: FalProvider, fake: FakeFalQueue) -> None:
    fake.admin_keys.add(fake.key)
    job = await provider.submit(generate(prompt=MODERATION_WORD))
    fake.advance(3600)
    failed = await provider.retrieve(job.id)
    assert (failed.status, failed.cost) == ("failed", None)


async def test_the_engine_records_the_billed_cost_instead_of_the_estimate(
    settings: Settings, fake: FakeFalQueue
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    fake.admin_keys.add(fake.key)
    provider = QuickFal(
        key=fake.key, queue_url=QUEUE, api_url=API, transport=fake.transport(), clock=fake.clock
    )
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"fal": provider})
    async with Engine(settings, ledger, catalog=Catalog(fal_models()), providers=pool) as engine:
        job = await engine.create("a cat", model="fal/happy-horse-1.0", seconds=5, size="1280x720")
        assert job.estimated_cost == pytest.approx(0.70)
        done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED
    assert Path(done.video_path or "").read_bytes() == fake.video
    assert done.cost == pytest.approx(5 * fake.unit_price)


# -- finding a lost submit --------------------------------------------------------------------


async def test_a_lost_submit_is_found_by_its_input_once_fal_lists_it(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    reference = ReferenceImage(b"\x89PNG first", "image/png", 1280, 720)
    request = generate("wan/v2.7", size="1280x720", seconds=5, reference=reference)
    since = fake.clock()
    fake.fail("submit", LOST)
    with pytest.raises(ProviderConnectionError):
        await provider.submit(request)
    (created,) = fake.jobs.values()  # fal made the job; only its answer was lost
    assert await provider.find(request, since=since) is None  # still queued: not listed yet
    fake.advance(3600)
    found = await provider.find(request, since=since)
    assert found is not None and found.status == "completed"
    ref = RemoteRef.parse(found.id)
    assert (ref.endpoint, ref.request_id) == ("fal-ai/wan/v2.7/image-to-video", created.id)
    assert ref.submitted_at == pytest.approx(created.created_at)
    listing = next(c for c in fake.calls("platform") if "by-endpoint" in c.url.path)
    assert listing.url.params["endpoint_id"] == "fal-ai/wan/v2.7/image-to-video"
    assert listing.url.params["expand"] == "payloads"
    assert len(fake.calls("submit")) == 1


async def test_find_skips_other_inputs_owned_requests_and_older_ones(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    request = generate()
    old = await provider.submit(request)
    fake.advance(7200)
    since = fake.clock()
    await provider.submit(replace(request, prompt="a different cat"))
    fake.fail("submit", LOST)
    with pytest.raises(ProviderConnectionError):
        await provider.submit(request)
    lost_id = list(fake.jobs)[-1]  # old, different, lost: in submit order
    fake.advance(3600)
    found = await provider.find(request, since=since, exclude=[old.id])
    assert found is not None
    assert RemoteRef.parse(found.id).request_id == lost_id
    assert await provider.find(request, since=since, exclude=[found.id, old.id]) is None
    assert await provider.find(replace(request, prompt="never sent"), since=since) is None
