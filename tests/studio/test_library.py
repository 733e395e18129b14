"""The Library page, fragment by fragment, through FastAPI's test client.

Finished videos are made as an app makes them (`POST /v1/videos`, rendered by the simulator);
rows for paging and filters are made through the engine and marked finished, so the server's
supervisor leaves them alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sorakit.engine import Engine, Owner
from sorakit.errors import NotFoundError
from sorakit.ledger import JobRecord, JobStatus, Ledger
from sorakit.settings import Settings
from sorakit.studio.library_query import PAGE_SIZE
from tests.ledger.test_postgres import URL as POSTGRES_URL, fresh_database
from tests.studio.conftest import csrf_of, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}
GALLERY = {"HX-Request": "true", "HX-Target": "gallery"}


def _keys(settings: Settings, *names: str, admin: bool = False) -> dict[str, tuple[str, str]]:
    """Tenant keys made before the server starts: name -> (key id, token)."""

    async def make() -> dict[str, tuple[str, str]]:
        async with await Engine.open(settings) as engine:
            made = {}
            for name in names:
                record, token = await engine.ledger.create_key(name, admin=admin)
                made[name] = (record.id, token)
            return made

    return asyncio.run(make())


def _video(client: TestClient, token: str | None, prompt: str, size: str = "1280x720") -> str:
    """A finished video, made through the Videos API as any app would."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"prompt": prompt, "model": "sora-2", "seconds": "4", "size": size}
    made = client.post("/v1/videos", json=body, headers=headers)
    assert made.status_code == 200, made.text
    video_id = str(made.json()["id"])
    deadline = time.monotonic() + 60
    while (status := client.get(f"/v1/videos/{video_id}", headers=headers).json()["status"]) in (
        "queued",
        "in_progress",
    ):
        assert time.monotonic() < deadline, f"{video_id} is still {status}"
        time.sleep(0.1)
    assert status == "completed"
    return video_id


def _rows(
    client: TestClient,
    owner: str | None,
    prompts: list[str],
    *,
    model: str = "sora-2",
    status: JobStatus = JobStatus.FAILED,
    **fields: Any,
) -> list[str]:
    """Jobs recorded by the engine (never sent), then set to `status` and `fields`."""
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]

    async def make() -> list[str]:
        ids = []
        for prompt in prompts:
            job = await engine.create(
                prompt, model=model, submit=False, owner=Owner(owner) if owner else None
            )
            await engine.ledger.update(job.id, status=status, **fields)
            ids.append(job.id)
        return ids

    assert client.portal is not None
    return client.portal.call(make)


def _job(client: TestClient, video_id: str) -> JobRecord:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(engine.ledger.get, video_id)


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="tile" id="card-([^"]+)"', html)


def _as(client: TestClient, token: str) -> None:
    client.cookies.clear()
    sign_in(client, token)


def test_every_route_asks_to_sign_in(studio: Studio, settings: Settings) -> None:
    _keys(settings, "alice")
    with studio() as client:
        for path in ("/library", "/library/video_x", "/library/video_x/thumbnail"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"
        assert client.get("/library/video_x/spritesheet").status_code == 303
        assert client.get("/library", headers=HTMX).headers["hx-redirect"] == "/sign-in"
        assert client.post("/library/video_x/delete", data={}).status_code == 303
        assert client.post("/library/export", data={"ids": ["video_x"]}).status_code == 303


def test_a_tenant_never_reaches_another_tenants_job(studio: Studio, settings: Settings) -> None:
    keys = _keys(settings, "alice", "bob")
    (admin_id, admin_token) = _keys(settings, "root", admin=True)["root"]
    with studio() as client:
        alices = _video(client, keys["alice"][1], "alice's lighthouse at dawn")
        bobs = _rows(client, keys["bob"][0], ["bob's quiet harbour"], status=JobStatus.COMPLETED)
        _as(client, keys["bob"][1])
        page = client.get("/library")
        assert page.status_code == 200
        assert _cards(page.text) == bobs and "lighthouse" not in page.text
        token = csrf_of(page.text)
        for path in ("", "/thumbnail", "/spritesheet"):
            refused = client.get(f"/library/{alices}{path}")
            assert refused.status_code == 404 and "No video found" in refused.text
            assert "lighthouse" not in refused.text
        cursor = client.get("/library", params={"after": alices}, headers=GALLERY)
        assert cursor.status_code == 404 and "No video found" in cursor.text
        deleted = client.post(f"/library/{alices}/delete", data={"csrf_token": token})
        assert deleted.status_code == 404
        exported = client.post(
            "/library/export", data={"ids": [bobs[0], alices]} | {"csrf_token": token}
        )
        assert exported.status_code == 404 and alices in exported.text
        assert exported.headers["content-type"].startswith("text/html")
        assert _job(client, alices).status is JobStatus.COMPLETED  # untouched

        _as(client, admin_token)  # the admin key sees every tenant's jobs
        everyone = client.get("/library")
        assert set(_cards(everyone.text)) == {alices, bobs[0]}
        assert f"key {keys['alice'][0]}" in everyone.text
        assert client.get(f"/library/{alices}/thumbnail").status_code == 200
        assert admin_id not in _cards(everyone.text)


def test_pages_walk_every_job_once_by_cursor(studio: Studio, settings: Settings) -> None:
    keys = _keys(settings, "alice", "bob")
    with studio() as client:
        made = _rows(client, keys["alice"][0], [f"shot {n}" for n in range(PAGE_SIZE + 6)])
        _rows(client, keys["bob"][0], ["not alice's"] * 3)
        _as(client, keys["alice"][1])
        first = client.get("/library")
        newest_first = list(reversed(made))
        assert _cards(first.text) == newest_first[:PAGE_SIZE]
        assert "Newer" not in first.text
        older = re.search(r'href="(/library\?after=[^"]+)" rel="next"', first.text)
        assert older, "no link to the next page"
        second = client.get(older.group(1), headers=GALLERY)
        assert second.status_code == 200 and "<html" not in second.text  # the gallery alone
        assert _cards(second.text) == newest_first[PAGE_SIZE:]
        assert 'rel="next"' not in second.text
        newer = re.search(r'href="(/library\?before=[^"]+)" rel="prev"', second.text)
        assert newer
        back = client.get(newer.group(1).replace("&amp;", "&"))
        assert _cards(back.text) == newest_first[:PAGE_SIZE] and 'rel="prev"' not in back.text
        # A history restore asks with htmx headers but needs the whole page.
        restore = client.get(
            older.group(1), headers=GALLERY | {"HX-History-Restore-Request": "true"}
        )
        assert "<html" in restore.text and _cards(restore.text) == newest_first[PAGE_SIZE:]


def test_a_bad_cursor_or_filter_is_a_readable_refusal(studio: Studio) -> None:
    with studio() as client:
        _rows(client, None, ["one"])
        cases = [
            ({"after": "video_nope"}, 404, "No video found with id &#39;video_nope&#39;"),
            ({"before": "x" * 300}, 404, "No video found"),
            ({"after": "../../etc/passwd"}, 404, "No video found"),
            ({"date_from": "2026-13-45"}, 400, "is not a date; write it as 2026-12-31"),
            ({"date_to": "yesterday"}, 400, "is not a date"),
            ({"date_from": "2026-12-09", "date_to": "2026-12-01"}, 400, "wrong way round"),
            ({"status": "bogus"}, 400, "Allowed: <code>pending</code>"),
            ({"q": "x" * 201}, 400, "at most 200 characters"),
            ({"pipeline": "p" * 300}, 400, "not a pipeline id"),
            ({"model": "m" * 200}, 400, "model name is too long"),
        ]
        for params, status, words in cases:
            fragment = client.get("/library", params=params, headers=GALLERY)
            assert fragment.status_code == status, (params, fragment.text)
            assert words in fragment.text and "<html" not in fragment.text, params
            page = client.get("/library", params=params)
            assert page.status_code == status and words in page.text
            assert 'id="filters"' in page.text  # the form, to mend it


def test_each_filter_narrows_the_gallery(studio: Studio) -> None:
    day = 86400.0
    march_1 = 1_709_251_200.0  # 2024-03-01 00:00 UTC, long before the other rows
    with studio() as client:
        kites = _rows(client, None, ["A red KITE over a beach", "kite at 100% zoom"])
        pro = _rows(client, None, ["a glass of water"], model="sora-2-pro")
        done = _rows(client, None, ["finished"], status=JobStatus.COMPLETED)
        piped = _rows(client, None, ["step one", "step two"], pipeline_id="pipe_abc")
        old = _rows(client, None, ["early march"], created_at=march_1 + 3600)
        later = _rows(client, None, ["mid march"], created_at=march_1 + 9 * day)

        def shown(**params: str) -> set[str]:
            answer = client.get("/library", params=params, headers=GALLERY)
            assert answer.status_code == 200, answer.text
            return set(_cards(answer.text))

        assert shown(q="kite") == set(kites)  # any case
        assert shown(q="100%") == {kites[1]}  # `%` is a character, not a wildcard
        assert shown(q="_") == set()
        assert shown(model="sora-2-pro") == set(pro)
        assert shown(status="completed") == set(done)
        assert shown(pipeline="pipe_abc") == set(piped)
        assert shown(date_from="2024-03-01", date_to="2024-03-01") == set(old)  # inclusive
        assert shown(date_from="2024-03-02", date_to="2024-03-31") == set(later)
        assert shown(date_to="2024-03-10") == set(old + later)
        assert shown(date_from="2024-03-11") == set(kites + pro + done + piped)
        assert shown(status="completed", q="kite") == set()
        nothing = client.get("/library", params={"q": "zebra"}, headers=GALLERY)
        assert "No video matches these filters" in nothing.text
        # The page links keep the filters.
        assert 'hx-push-url="true"' in client.get("/library").text
        more = _rows(client, None, [f"kite {n}" for n in range(PAGE_SIZE)])
        page = client.get("/library", params={"q": "kite"}, headers=GALLERY)
        assert set(_cards(page.text)) <= set(more + kites)
        assert re.search(r'href="/library\?q=kite&amp;after=[^"]+" rel="next"', page.text)


def test_details_show_what_was_asked_changed_charged_and_kept(studio: Studio) -> None:
    with studio() as client:
        made = client.post("/v1/videos", json={"prompt": "a tall ship", "size": "portrait"})
        assert made.status_code == 200, made.text
        video_id = made.json()["id"]
        while client.get(f"/v1/videos/{video_id}").json()["status"] != "completed":
            time.sleep(0.1)
        job = _job(client, video_id)
        page = client.get(f"/library/{video_id}")
        assert page.status_code == 200
        text = page.text
        assert "a tall ship" in text and "size portrait -&gt; 720x1280" in text
        assert "simulator" in text and job.provider_model in text
        assert job.remote_id and job.remote_id in text
        assert f"${job.estimated_cost:.2f}" in text and "Render time" in text
        assert '<video controls preload="metadata"' in text
        video = client.get(f"/jobs/{video_id}/content").content
        assert hashlib.sha256(video).hexdigest() in text  # the checksum of the file served
        for variant in ("video", "thumbnail", "spritesheet"):
            assert job.assets[variant].sha256 in text and f'data-variant="{variant}"' in text

        enhanced = _rows(
            client,
            None,
            ["A lighthouse at dawn, slow dolly in, golden light"],
            pipeline_id="pipe_xyz",
            pipeline_step="segment-2",
            options={"enhanced": {"original": "lighthouse", "style": "director", "note": None}},
        )[0]
        details = client.get(f"/library/{enhanced}").text
        assert "Before enhancement" in details and ">lighthouse</p>" in details
        assert "Rewritten in the director style" in details
        assert 'href="/runs/pipe_xyz"' in details and "step segment-2" in details
        assert "No files archived" in details and "not reported" in details


def test_images_are_served_with_cache_headers_and_the_sprite_grid_matches(
    studio: Studio,
) -> None:
    with studio() as client:
        video_id = _video(client, None, "a windmill turning")
        pending = _rows(client, None, ["not rendered"], status=JobStatus.CANCELLED)[0]
        thumbnail = client.get(f"/library/{video_id}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
        assert thumbnail.content[:4] == b"RIFF" and thumbnail.content[8:12] == b"WEBP"
        assert "private" in thumbnail.headers["cache-control"]
        sheet = client.get(f"/library/{video_id}/spritesheet")
        assert sheet.headers["content-type"] == "image/jpeg" and sheet.content[:2] == b"\xff\xd8"
        assert client.get(f"/library/{pending}/thumbnail").status_code == 404

        page = client.get("/library").text
        card = page[page.index(f'id="card-{video_id}"') :]
        grid = re.search(r'data-columns="(\d+)" data-rows="(\d+)" data-tiles="(\d+)"', card)
        assert grid
        columns, rows, tiles = (int(n) for n in grid.groups())
        assert columns * rows >= tiles > columns * (rows - 1)
        with Image.open(io.BytesIO(sheet.content)) as image:
            width, height = image.size
        tile_width, tile_height = width / columns, height / rows
        assert tile_width == int(tile_width) and tile_height == int(tile_height)
        assert abs(tile_width / tile_height - 1280 / 720) < 0.02  # each tile is one frame
        placeholder = page[page.index(f'id="card-{pending}"') :]
        assert placeholder.index('class="placeholder"') < placeholder.index("</article>")


def test_delete_here_or_at_the_provider_too(studio: Studio, settings: Settings) -> None:
    with studio() as client:
        here, both = _video(client, None, "kept upstream"), _video(client, None, "gone upstream")
        running = _rows(client, None, ["still rendering"], status=JobStatus.QUEUED)[0]
        failed = _rows(client, None, ["never rendered"])[0]
        token = csrf_of(client.get("/library").text)
        jobs = {video_id: _job(client, video_id) for video_id in (here, both)}
        engine: Engine = client.app.state.engine  # type: ignore[attr-defined]

        def upstream_has(job: JobRecord) -> bool:
            async def ask() -> bool:
                provider = await engine.upstream.provider_for(job)
                try:
                    await provider.retrieve(job.remote_id or "")
                except NotFoundError:
                    return False
                return True

            assert client.portal is not None
            return client.portal.call(ask)

        refused = client.post(f"/library/{here}/delete", data={})
        assert refused.status_code == 403 and "reload the page" in refused.text

        answer = client.post(f"/library/{here}/delete", data={"csrf_token": token}, headers=HTMX)
        assert answer.status_code == 200 and f"Deleted <strong>{here}</strong> here." in answer.text
        assert answer.headers["hx-retarget"] == f"#card-{here}"
        assert client.get(f"/library/{here}").status_code == 404
        assert not (settings.assets_dir / here).exists()
        assert upstream_has(jobs[here])  # only this server's copy went

        form = {"csrf_token": token, "remote": "1", "then": "library"}  # from its details page
        gone = client.post(f"/library/{both}/delete", data=form, headers=HTMX)
        assert gone.status_code == 204 and gone.headers["hx-redirect"] == "/library"
        assert not upstream_has(jobs[both])
        plain = client.post(f"/library/{failed}/delete", data={"csrf_token": token})
        assert plain.status_code == 303 and plain.headers["location"] == "/library"
        assert client.get(f"/library/{failed}").status_code == 404

        busy = client.post(f"/library/{running}/delete", data={"csrf_token": token}, headers=HTMX)
        assert busy.status_code == 400 and "only completed or failed videos" in busy.text
        assert _job(client, running).status is JobStatus.QUEUED


def test_export_zips_the_selected_videos_with_a_manifest(studio: Studio) -> None:
    with studio() as client:
        first, second = _video(client, None, "a fox"), _video(client, None, "a hare")
        failed = _rows(client, None, ["never rendered"])[0]
        token = csrf_of(client.get("/library").text)
        ids = [first, failed, second, first]  # a repeat is exported once
        answer = client.post("/library/export", data={"ids": ids, "csrf_token": token})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/zip"
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        assert int(answer.headers["content-length"]) == len(answer.content)
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            assert sorted(archive.namelist()) == sorted(
                [f"{first}.mp4", f"{second}.mp4", "jobs.json"]
            )
            manifest = json.loads(archive.read("jobs.json"))
            assert [entry["id"] for entry in manifest] == [first, failed, second]
            for entry in manifest:
                if entry["file"] is None:
                    assert entry["id"] == failed and entry["status"] == "failed"
                    continue
                data = archive.read(entry["file"])
                assert data[4:8] == b"ftyp"
                assert hashlib.sha256(data).hexdigest() == entry["files"]["video"]["sha256"]
                assert entry["model"] == "sora-2" and entry["seconds"] == "4"
                assert entry["estimated_cost"] == 0.4 and "thumbnail" in entry["files"]
            assert manifest[0]["prompt"] == "a fox"

        for data, status, words in [
            ({"csrf_token": token}, 400, "Select at least one video"),
            ({"ids": [first]}, 403, "reload the page"),
            ({"ids": [f"video_{n}" for n in range(101)], "csrf_token": token}, 400, "at most 100"),
            ({"ids": [first, "video_nope"], "csrf_token": token}, 404, "video_nope"),
        ]:
            refused = client.post("/library/export", data=data)
            assert refused.status_code == status and words in refused.text
            assert "Back to the Library" in refused.text  # a page, since a plain form posted


def test_the_gallery_shows_cards_with_thumbnails_and_the_export_form(
    studio: Studio, tmp_path: Path
) -> None:
    with studio() as client:
        video_id = _video(client, None, "a paper boat")
        page = client.get("/library")
        assert page.status_code == 200 and 'aria-current="page">Library' in page.text
        assert '<link rel="stylesheet" href="/static/library.css">' in page.text
        assert f'src="/library/{video_id}/thumbnail"' in page.text
        assert f'data-sprite="/library/{video_id}/spritesheet"' in page.text
        assert f'name="ids" value="{video_id}" form="export"' in page.text
        assert 'hx-confirm="Delete' in page.text and "also at simulator" in page.text
        assert client.get("/static/library.js").status_code == 200
        assert client.get("/static/library.css").status_code == 200


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The Library's queries on each database the ledger runs on."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'library.db'}"
        return
    if POSTGRES_URL is None:
        pytest.skip("no Postgres (scripts/postgres start)")
    async with fresh_database() as url:
        yield url


async def test_keyset_pages_and_filters_in_the_ledger(ledger_url: str) -> None:
    ledger = await Ledger.open(ledger_url)
    try:
        same_moment = 1_709_251_200.0  # ties on created_at are ordered by id

        async def job(n: int, owner: str, prompt: str = "p", **fields: Any) -> str:
            await ledger.create_job(
                id=f"video_{n:03d}",
                kind="generate",
                model=fields.pop("model", "sora-2"),
                provider="simulator",
                provider_model="sora-2",
                prompt=prompt,
                seconds=4,
                size="1280x720",
                idempotency_key=f"k{n}",
                owner=owner,
                created_at=fields.pop("created_at", same_moment + n // 3),
                **fields,
            )
            return f"video_{n:03d}"

        mine = [await job(n, "alice") for n in range(20)]
        theirs = [await job(n, "bob") for n in range(20, 25)]
        walked, after = [], None
        while True:
            page, more = await ledger.list_jobs(owner="alice", limit=3, after=after)
            walked += [j.id for j in page]
            if not more:
                break
            after = page[-1].id
        assert walked == sorted(mine, key=lambda i: (same_moment + int(i[6:]) // 3, i))[::-1]
        newer, _ = await ledger.list_jobs(owner="alice", limit=4, after=walked[9], order="asc")
        assert [j.id for j in newer] == walked[5:9][::-1]
        with pytest.raises(NotFoundError):
            await ledger.list_jobs(owner="alice", after=theirs[0])  # a foreign cursor

        await job(30, "alice", "A red KITE at 100% zoom", model="sora-2-pro")
        await job(31, "alice", "kite_runner", pipeline_id="pipe_1", status="failed")
        await job(32, "alice", "old", created_at=1_600_000_000.0)

        async def ids(**filters: Any) -> list[str]:
            return [j.id for j in (await ledger.list_jobs(owner="alice", **filters))[0]]

        assert await ids(text="kite") == ["video_031", "video_030"]
        assert await ids(text="100%") == ["video_030"] and await ids(text="e_r") == ["video_031"]
        assert await ids(text="x%z") == [] and await ids(text="t_r") == []
        assert await ids(models=["sora-2-pro"]) == ["video_030"]
        assert await ids(statuses=["failed"], pipeline_id="pipe_1") == ["video_031"]
        assert await ids(created_before=1_700_000_000.0) == ["video_032"]
        assert "video_032" not in await ids(created_from=1_700_000_000.0, limit=100)
        if ledger.engine.dialect.name == "sqlite":  # the page is read along the owner's index
            query = "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE owner = 'alice' AND "
            query += "(created_at, id) < (1e10, 'x') ORDER BY created_at DESC, id DESC LIMIT 25"
            async with ledger.engine.connect() as conn:
                plan = " ".join(row[-1] for row in await conn.exec_driver_sql(query))
            assert "ix_jobs_owner_created_at" in plan and "TEMP B-TREE" not in plan
    finally:
        await ledger.close()
