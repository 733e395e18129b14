"""Sora 2's models with the real API's tables and prices (final contract, 2026-09-24).

Seconds 16 and 20 and the pro 1080p sizes came with the March 2026 guide. The pro 1080p price,
$0.50 per second, is the one OpenAI's and fal's public price lists showed in early 2026.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry

SORA_SECONDS = (4, 8, 12, 16, 20)
SORA_2_SIZES = ("720x1280", "1280x720")
SORA_2_PRO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024", "1080x1920", "1920x1080")

SORA_2 = ModelCapabilities(
    sizes=SORA_2_SIZES,
    seconds=SORA_SECONDS,
    default_size="720x1280",
    default_seconds=4,
    remix=True,
    extension=True,
    edit=True,
    characters=True,
    max_extensions=6,
    max_total_seconds=120,
    price_per_second={"720x1280": 0.10, "1280x720": 0.10},
    render_seconds_base=60.0,
    render_seconds_per_second=15.0,
)

SORA_2_PRO = ModelCapabilities(
    sizes=SORA_2_PRO_SIZES,
    seconds=SORA_SECONDS,
    default_size="720x1280",
    default_seconds=4,
    remix=True,
    extension=True,
    edit=True,
    characters=True,
    max_extensions=6,
    max_total_seconds=120,
    price_per_second={
        "720x1280": 0.30,
        "1280x720": 0.30,
        "1024x1792": 0.50,
        "1792x1024": 0.50,
        "1080x1920": 0.50,
        "1920x1080": 0.50,
    },
    render_seconds_base=90.0,
    render_seconds_per_second=25.0,
)


def sora_models(provider: str) -> list[ModelEntry]:
    """The Sora entries, dated snapshots included, served by `provider`."""
    families = [
        (
            "sora-2",
            SORA_2,
            ("sora-2-2025-10-06", "sora-2-2025-12-08"),
            "Sora 2: fast, 720p, with audio",
        ),
        (
            "sora-2-pro",
            SORA_2_PRO,
            ("sora-2-pro-2025-10-06",),
            "Sora 2 Pro: higher fidelity, up to 1080p",
        ),
    ]
    return [
        ModelEntry(
            name=name,
            provider=provider,
            provider_model=name,
            capabilities=caps,
            description=description if name == family else f"{description} (snapshot {name[-10:]})",
        )
        for family, caps, snapshots, description in families
        for name in (family, *snapshots)
    ]
