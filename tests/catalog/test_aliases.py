"""Operator aliases: an old app's `sora-2` is routed to another model and snapped into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorakit.catalog import Catalog, ModelCapabilities, ModelEntry, build_catalog
from sorakit.engine import Engine
from sorakit.errors import ConfigurationError, NotFoundError
from sorakit.settings import Settings, get_settings

WIDE = ModelEntry(
    name="wide-1",
    provider="simulator",
    provider_model="wide-1",
    capabilities=ModelCapabilities(
        sizes=("1920x1080", "1080x1920"),
        seconds=(5, 10),
        default_size="1920x1080",
        default_seconds=5,
        price_per_second={"1920x1080": 0.2, "1080x1920": 0.2},
    ),
)


def test_route_follows_aliases() -> None:
    catalog = Catalog([WIDE], {"sora-2": "wide-1"})
    assert catalog.route("sora-2") == (WIDE, True)
    assert catalog.route("wide-1") == (WIDE, False)
    assert "sora-2" in catalog and "nope" not in catalog
    with pytest.raises(NotFoundError):
        catalog.route("nope")
    with pytest.raises(ConfigurationError, match="not a known model"):
        Catalog([WIDE], {"sora-2": "missing"})


def test_aliases_come_from_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sorakit.toml").write_text('[aliases]\n"sora-2" = "sora-2-pro"\n')
    monkeypatch.chdir(tmp_path)
    catalog = build_catalog(get_settings())
    assert catalog.resolve("sora-2").name == "sora-2-pro"
    assert catalog.aliases == {"sora-2": "sora-2-pro"}


async def test_an_aliased_request_is_snapped_and_says_so(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        engine.catalog = Catalog([*engine.catalog, WIDE], {"sora-2": "wide-1"})
        job = await engine.create(
            "an old app's request", model="sora-2", seconds="8", size="720x1280"
        )
        assert (job.model, job.provider_model, job.seconds, job.size) == (
            "sora-2",
            "wide-1",
            10,
            "1080x1920",
        )
        assert job.options["changes"] == [
            "model sora-2 -> wide-1 (alias)",
            "seconds 8 -> 10 (wide-1 allows '5' or '10')",
            "size 720x1280 -> 1080x1920 (wide-1 allows 1920x1080, 1080x1920)",
        ]
        assert job.estimated_cost == pytest.approx(2.0)
