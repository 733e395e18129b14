"""Every model has a price or says why not, and what a model takes is checked per mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from sorakit.catalog import build_catalog
from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit
from tests.providers._proxies import HandlerApp, HttpProxy, certificates, serving
from tests.providers.runway_fake import API_HOST, CDN_HOST, FakeRunwayAPI

FAL = {"SORAKIT_FAL_KEY": "id:secret"}  # a credential is there; nothing is sent before pricing


def picture(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (width, height), (30, 120, 200)).save(path)
    return path


@contextlib.asynccontextmanager
async def runway_behind_proxy(workdir: Path) -> AsyncIterator[tuple[FakeRunwayAPI, dict[str, str]]]:
    """Runway's fake on loopback TLS behind a proxy, and the environment that points sorakit at it."""
    api = FakeRunwayAPI(workdir=workdir / "fake")
    api.speed, api.url_ttl = 100.0, 1e6  # a render takes 0.1 s; its URL lasts the test
    (workdir / "tls").mkdir()
    tls = certificates(workdir / "tls", [API_HOST, CDN_HOST])
    with serving(HandlerApp(api.handle), tls=tls) as address:
        async with HttpProxy(routes={API_HOST: address, CDN_HOST: address}) as proxy:
            yield (
                api,
                {
                    "SORAKIT_RUNWAY_API_SECRET": api.api_secret,
                    "SORAKIT_RUNWAY_BASE_URL": f"https://{API_HOST}",
                    "SORAKIT_PROXIES": json.dumps({"runway": proxy.url()}),
                    "SORAKIT_MAX_POLL_INTERVAL": "0.2",
                    "SSL_CERT_FILE": str(tls.ca),
                },
            )


def test_every_size_and_length_of_every_mode_has_a_price_or_a_reason() -> None:
    combinations = 0
    for entry in build_catalog(get_settings(openai_base_url="http://sora.test")):
        caps = entry.capabilities
        assert caps.modes(), entry.name
        for mode in caps.modes():
            moded = caps.for_mode(mode)
            for size in moded.sizes:
                for seconds in moded.seconds:
                    combinations += 1
                    if caps.price(size, seconds) is None:
                        assert caps.unpriced.get(size), (entry.name, mode, size, seconds)
    assert combinations > 1000


def test_sora_2_pro_at_1080p_has_a_price_and_fits_a_budget(isolated_env: Path) -> None:
    env = {"SORAKIT_BUDGET_USD": "10"}
    for size in ("1920x1080", "1080x1920"):
        result = sorakit(
            "generate",
            "x",
            "--model",
            "sora-2-pro",
            "--size",
            size,
            "-q",
            home=isolated_env,
            env=env,
        )
        assert result.returncode == 0, result.stderr
    jobs = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
    assert [job["estimated_cost"] for job in jobs] == [pytest.approx(2.0)] * 2  # 4 s at $0.50


def test_an_unpriced_model_is_refused_with_the_way_to_price_it(isolated_env: Path) -> None:
    env = {**FAL, "SORAKIT_BUDGET_USD": "5"}
    args = ("generate", "x", "--model", "fal/veo-3.1-fast", "-q")
    refused = sorakit(*args, home=isolated_env, env=env)
    assert refused.returncode != 0
    message = " ".join(refused.stderr.split())
    assert "fal publishes no price for Veo 3.1 Fast" in message
    assert "sorakit prices set fal/veo-3.1-fast" in message
    assert "PUT /admin/prices/fal/veo-3.1-fast" in message

    priced = sorakit("prices", "set", "fal/veo-3.1-fast", "--per-second", "2", home=isolated_env)
    assert priced.returncode == 0, priced.stderr
    again = sorakit(*args, home=isolated_env, env=env)
    assert "estimated at $16.00" in " ".join(again.stderr.split())  # 8 s at $2, over $5


def test_an_unpriced_model_over_http_names_the_admin_call(
    isolated_env: Path, serve: object
) -> None:
    budgeted = get_settings(home=isolated_env, budget_usd=5.0, fal_key="id:secret")
    with serve(budgeted) as url:  # type: ignore[operator]
        answer = httpx.post(
            f"{url}/v1/videos", json={"prompt": "x", "model": "fal/veo-3.1-fast"}, timeout=30
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "PUT /admin/prices/fal/veo-3.1-fast" in error["message"]


def test_models_json_shows_each_modes_sizes_and_seconds(isolated_env: Path) -> None:
    listing = json.loads(sorakit("models", "--json", home=isolated_env).stdout)
    rows = {row["name"]: row for row in listing["models"]}
    gen45 = rows["runway/gen4.5"]["modes"]
    assert gen45["text"]["sizes"] == ["1280x720", "720x1280"]
    assert {"960x960", "1104x832", "832x1104", "1584x672"} <= set(gen45["image"]["sizes"])
    assert set(rows["runway/gen4_turbo"]["modes"]) == {"image"}
    assert rows["veo-3.1-generate-001"]["modes"]["references"]["seconds"] == [8]
    assert rows["fal/veo-3.1"]["modes"]["video"]["seconds"] == [7]
    table = sorakit("models", home=isolated_env, env={"COLUMNS": "200"}).stdout
    assert "image: 6 sizes" in table


def test_per_mode_seconds_and_sizes_are_refused_before_any_provider(
    isolated_env: Path, tmp_path: Path
) -> None:
    subject = str(picture(tmp_path / "subject.png", 64, 64))
    veo = sorakit(
        "generate", "x", "--model", "veo-3.1", "--reference-image", subject, "--seconds", "4",
        home=isolated_env,
    )  # fmt: skip
    assert veo.returncode == 2 and "with reference images allows '8'" in veo.stderr
    text_only = sorakit(
        "generate", "x", "--model", "runway/gen4.5", "--size", "960x960", home=isolated_env
    )
    message = " ".join(text_only.stderr.split())
    assert text_only.returncode == 2
    assert "960x960 is offered only with a first-frame image" in message
    turbo = sorakit("generate", "x", "--model", "runway/gen4_turbo", home=isolated_env)
    assert turbo.returncode == 2 and "renders only from a first-frame image" in turbo.stderr


async def test_gen45_renders_an_image_only_ratio_from_the_cli(
    isolated_env: Path, tmp_path: Path
) -> None:
    square = str(picture(tmp_path / "square.png", 960, 960))
    async with runway_behind_proxy(tmp_path) as (api, env):
        exact, snapped = [
            await asyncio.to_thread(
                sorakit,
                "generate",
                "a cat",
                "--model",
                "runway/gen4.5",
                "--seconds",
                "2",
                *size,
                "--reference",
                square,
                "--out",
                str(tmp_path / "out"),
                home=isolated_env,
                env=env,
            )  # fmt: skip
            for size in (["--size", "960x960"], ["--size", "950x950", "--snap"])
        ]
    for result in (exact, snapped):
        assert result.returncode == 0, result.stderr
        with av.open(result.stdout.strip().splitlines()[-1]) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (960, 960)
    assert "950x950 -> 960x960" in " ".join(snapped.stderr.split())
    bodies = [call.body for call in api.calls("POST", "/v1/image_to_video")]
    assert [body["ratio"] for body in bodies] == ["960:960", "960:960"]
