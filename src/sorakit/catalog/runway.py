"""The models sorakit routes through Runway's API: its own and the other vendors it resells.

Every figure comes from `shared/reference/providers.md` §5 and runwayml 5.24.0's request types
(`text_to_video_create_params.py`, `image_to_video_create_params.py`): ratios are the ones both
`/v1/text_to_video` and `/v1/image_to_video` accept (so a size works with and without a reference
image), durations are the integers each model takes, and `last_frame` marks models whose
`promptImage` takes a `position: "last"` frame. Some routed vendors take no pixel ratio on one
endpoint but a `resolution` tier (`720p`), an aspect (`16:9`) or an `auto_720p` ratio that follows
the first frame; `text_framing` / `image_framing` say which, and `tiers` / `aspects` map each size
onto them. Where the SDK types a duration as a bare `int`, the range is the vendor's own on fal or
its API [INF]. Prices are Runway credits per second at $0.01 a credit; only the four models
providers.md prices carry one, the others are left unpriced rather than guessed (the task's own
`cost.credits` is recorded either way). Render times are estimates [INF].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, with_unpriced

PROVIDER = "runway"
USD_PER_CREDIT = 0.01
"""Runway API credits are sold at $0.01 each (providers.md §5.2)."""

Framing = Literal["ratio", "aspect", "resolution", "auto"]
"""How a size goes on the wire: `ratio` the pixel ratio itself (`1280:720`), `aspect` its aspect
as `ratio` (`16:9`), `resolution` its tier as `resolution` (`720p`), `auto` its tier as an
`auto_720p` ratio (the aspect follows the first frame)."""


@dataclass(frozen=True)
class RunwayModel:
    """One Runway model literal and what its create endpoints accept."""

    model: str
    ratios: tuple[str, ...]
    """`W:H` ratios accepted by every endpoint the model is on, in the order a UI offers them."""
    durations: tuple[int, ...]
    image_ratios: tuple[str, ...] = ()
    """Further ratios `/v1/image_to_video` alone accepts (so only with a reference image)."""
    text_to_video: bool = True
    image_to_video: bool = True
    video_modes: tuple[str, ...] = ()
    """`mode` values of `/v1/video_to_video` the model takes (`extend`, `edit`)."""
    last_frame: bool = False
    reference_images: int = 0
    """How many subject/style images `/v1/text_to_video`'s `references` takes (0: no such field)."""
    references_with_frames: bool = False
    """`/v1/image_to_video` takes `references` too, counted with the frames (Kling 4)."""
    reference_tiers: tuple[str, ...] = ()
    """The only tiers allowed with reference images, where the model caps them (Grok: 720p)."""
    text_framing: tuple[Framing, ...] = ("ratio",)
    image_framing: tuple[Framing, ...] = ("ratio",)
    tiers: dict[str, str] = field(default_factory=dict)
    """Ratio -> resolution tier, for models framed by `resolution` or `auto`."""
    aspects: dict[str, str] = field(default_factory=dict)
    """Ratio -> aspect, for models framed by `aspect`."""
    audio: bool = False
    """The model has an `audio` switch (sorakit always asks for sound, as Sora made it)."""
    soundtrack: bool | None = None
    """Whether clips have sound; None: exactly when the model has the `audio` switch."""
    credits_per_second: float | None = None
    render_base: float = 60.0
    render_per_second: float = 10.0
    description: str = ""

    @property
    def sizes(self) -> tuple[str, ...]:
        """The ratios as sorakit `WxH` sizes."""
        return tuple(ratio.replace(":", "x") for ratio in self.ratios)

    @property
    def image_sizes(self) -> tuple[str, ...]:
        """The sizes `/v1/image_to_video` takes: every ratio, the image-only ones too."""
        return self.sizes + tuple(ratio.replace(":", "x") for ratio in self.image_ratios)

    @property
    def reference_sizes(self) -> tuple[str, ...]:
        """The sizes allowed with reference images, where the model caps their tier."""
        if not self.reference_tiers:
            return ()
        return tuple(
            size
            for size, ratio in zip(self.sizes, self.ratios, strict=True)
            if self.tiers.get(ratio) in self.reference_tiers
        )


_GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
_VEO_RATIOS = ("1280:720", "720:1280", "1920:1080", "1080:1920")
_OMNI_RATIOS = (
    "1280:720",
    "720:1280",
    "640:360",
    "360:640",
    "1920:1080",
    "1080:1920",
    "3840:2160",
    "2160:3840",
)
_SEEDANCE_RATIOS = (
    "1280:720",
    "720:1280",
    "960:960",
    "1112:834",
    "834:1112",
    "1470:630",
    "1920:1080",
    "1080:1920",
    "1440:1440",
    "1664:1248",
    "1248:1664",
    "2206:946",
    "992:432",
    "864:496",
    "752:560",
    "640:640",
    "560:752",
    "496:864",
    "3840:2160",
    "2160:3840",
    "3840:2880",
    "2880:3840",
    "3840:3840",
    "3840:1646",
)

_HAPPYHORSE_TIERS = {
    **dict.fromkeys(("1280:720", "720:1280", "960:960", "1108:832", "832:1108"), "720p"),
    **dict.fromkeys(("1920:1080", "1080:1920", "1440:1440", "1662:1248", "1248:1662"), "1080p"),
}
_WAN_TIERS = {
    **dict.fromkeys(("832:480", "720:544", "624:624", "544:720", "480:832"), "480p"),
    **dict.fromkeys(("1280:720", "1104:832", "960:960", "832:1104", "720:1280"), "720p"),
    **dict.fromkeys(("1920:1080", "1648:1248", "1440:1440", "1248:1648", "1080:1920"), "1080p"),
}
_GROK_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
_GROK_SIZES = {  # grok_imagine_1_5_lite's pixel ratios, one per aspect and tier
    "480p": ("848:480", "480:848", "480:480", "640:480", "480:640", "720:480", "480:720"),
    "720p": ("1280:720", "720:1280", "720:720", "960:720", "720:960", "1088:720", "720:1088"),
    "1080p": (
        "1904:1072",
        "1072:1904",
        "1424:1424",
        "1648:1232",
        "1232:1648",
        "1744:1152",
        "1152:1744",
    ),
}
_GROK_TIERS = {ratio: tier for tier, ratios in _GROK_SIZES.items() for ratio in ratios}
_GROK_ASPECT_OF = {
    ratio: aspect
    for ratios in _GROK_SIZES.values()
    for ratio, aspect in zip(ratios, _GROK_ASPECTS, strict=True)
}
_KLING4_TIERS = {
    **dict.fromkeys(("1280:720", "720:1280", "940:940", "1460:624"), "720p"),
    **dict.fromkeys(("1920:1080", "1080:1920", "1440:1440", "2200:940"), "1080p"),
}
# Hailuo 3 takes an aspect and `768p` or `2k`; the pixel sizes are MiniMax's usual ones [INF].
_HAILUO_FRAMES = {
    "1366:768": ("16:9", "768p"),
    "768:1366": ("9:16", "768p"),
    "768:768": ("1:1", "768p"),
    "2560:1440": ("16:9", "2k"),
    "1440:2560": ("9:16", "2k"),
    "1440:1440": ("1:1", "2k"),
}


def _by_tier(tiers: dict[str, str], first: str = "720p") -> tuple[str, ...]:
    """The ratios with the `first` tier's ahead, so a model's default size is a 720p one."""
    return tuple(sorted(tiers, key=lambda ratio: tiers[ratio] != first))


def _wan(model: str, name: str) -> RunwayModel:
    return RunwayModel(
        model,
        _by_tier(_WAN_TIERS),
        tuple(range(2, 16)),  # Wan 2.7's 2-15 s on fal [INF]
        image_framing=("auto",),  # keyframe requests must use auto_480p/720p/1080p
        tiers=_WAN_TIERS,
        last_frame=True,
        reference_images=10,
        audio=True,
        render_base=90.0,
        render_per_second=12.0,
        description=f"Alibaba {name} through Runway, 480p-1080p, audio, first/last frame",
    )


RUNWAY_MODELS: tuple[RunwayModel, ...] = (
    RunwayModel(
        "gen4.5",
        ("1280:720", "720:1280"),  # text_to_video takes only these two; image_to_video all six
        tuple(range(2, 11)),
        image_ratios=_GEN4_RATIOS[2:],
        credits_per_second=12,
        render_base=45.0,
        render_per_second=10.0,
        description="Runway Gen-4.5: Runway's own flagship, text or image to video, silent",
    ),
    RunwayModel(
        "gen4_turbo",
        _GEN4_RATIOS,
        tuple(range(2, 11)),
        text_to_video=False,
        credits_per_second=5,
        render_base=20.0,
        render_per_second=4.0,
        description="Runway Gen-4 Turbo: cheapest Runway model, image to video only, silent",
    ),
    RunwayModel(
        "veo3.1",
        _VEO_RATIOS,
        (4, 6, 8),
        last_frame=True,
        audio=True,
        credits_per_second=40,
        render_base=60.0,
        render_per_second=12.0,
        description="Google Veo 3.1 through Runway, with audio and first/last frame",
    ),
    RunwayModel(
        "veo3.1_fast",
        _VEO_RATIOS,
        (4, 6, 8),
        last_frame=True,
        audio=True,
        credits_per_second=15,
        render_base=30.0,
        render_per_second=6.0,
        description="Google Veo 3.1 Fast through Runway, with audio and first/last frame",
    ),
    RunwayModel(
        "kling3.0_pro",
        ("1920:1080", "1080:1920", "1440:1440"),
        tuple(range(3, 16)),
        last_frame=True,
        audio=True,
        render_base=90.0,
        render_per_second=15.0,
        description="Kuaishou Kling 3.0 Pro through Runway, 1080p with audio",
    ),
    RunwayModel(
        "kling3.0_standard",
        ("1280:720", "720:1280", "960:960"),
        tuple(range(3, 16)),
        last_frame=True,
        audio=True,
        render_base=60.0,
        render_per_second=12.0,
        description="Kuaishou Kling 3.0 Standard through Runway, 720p with audio",
    ),
    RunwayModel(
        "seedance2",
        _SEEDANCE_RATIOS,
        tuple(range(4, 16)),
        last_frame=True,
        reference_images=9,
        audio=True,
        render_base=90.0,
        render_per_second=15.0,
        description="ByteDance Seedance 2.0 through Runway, with audio",
    ),
    RunwayModel(
        "gemini_omni_flash_1.1",
        _OMNI_RATIOS,
        tuple(range(3, 11)),
        video_modes=("extend", "edit"),
        last_frame=True,
        reference_images=3,  # the SDK gives no bound; Omni takes 3 on the Gemini API [INF]
        soundtrack=True,  # no switch: Omni always renders audio (providers.md §2)
        render_base=60.0,
        render_per_second=10.0,
        description="Google Gemini Omni Flash 1.1 through Runway, with edit and extend",
    ),
    RunwayModel(
        "kling_4",
        tuple(_KLING4_TIERS),
        tuple(range(3, 16)),  # Kling 3.0's 3-15 s [INF]
        image_framing=("auto",),  # the video follows the first frame's framing
        tiers=_KLING4_TIERS,
        last_frame=True,
        reference_images=10,  # "up to 10 images in total, frames included"
        references_with_frames=True,
        soundtrack=False,  # no audio switch or soundtrack in the schema [INF]
        render_base=90.0,
        render_per_second=15.0,
        description="Kuaishou Kling 4 through Runway, 720p/1080p, frames plus references",
    ),
    RunwayModel(
        "happyhorse_1_0",
        tuple(_HAPPYHORSE_TIERS),
        tuple(range(3, 16)),  # 3-15 s as on fal [INF]
        image_framing=("resolution",),  # the aspect follows the first frame
        tiers=_HAPPYHORSE_TIERS,
        soundtrack=True,  # no switch: Happy Horse always renders audio (fal) [INF]
        render_base=60.0,
        render_per_second=8.0,
        description="Alibaba Happy Horse 1.0 through Runway, 720p/1080p, native audio",
    ),
    RunwayModel(
        "hailuo3",
        tuple(_HAILUO_FRAMES),
        (6, 10),  # Hailuo 2.3's lengths [INF]
        text_framing=("aspect", "resolution"),
        image_framing=("aspect", "resolution"),
        tiers={ratio: tier for ratio, (_aspect, tier) in _HAILUO_FRAMES.items()},
        aspects={ratio: aspect for ratio, (aspect, _tier) in _HAILUO_FRAMES.items()},
        last_frame=True,
        reference_images=9,
        render_base=90.0,
        render_per_second=15.0,
        description="MiniMax Hailuo 3 through Runway, 768p/2k, first/last frame, silent",
    ),
    _wan("wan3", "Wan 3"),
    _wan("wan3_prime", "Wan 3 Prime"),
    RunwayModel(
        "grok_imagine_1_5",
        _by_tier(_GROK_TIERS),
        tuple(range(1, 16)),  # xAI's 1-15 s [INF]
        text_framing=("aspect", "resolution"),
        image_framing=("resolution",),  # the aspect follows the first frame
        tiers=_GROK_TIERS,
        aspects=_GROK_ASPECT_OF,
        reference_images=7,  # the SDK gives no bound; xAI's reference-to-video takes 7 [INF]
        reference_tiers=("480p", "720p"),  # "requests with image references are capped at 720p"
        soundtrack=True,  # no switch: Grok Imagine renders audio [INF]
        render_base=45.0,
        render_per_second=8.0,
        description="xAI Grok Imagine 1.5 through Runway, 480p-1080p, with audio",
    ),
    RunwayModel(
        "grok_imagine_1_5_lite",
        _by_tier(_GROK_TIERS),
        tuple(range(1, 16)),  # xAI's 1-15 s [INF]
        image_framing=("auto",),
        tiers=_GROK_TIERS,
        soundtrack=True,  # no switch: Grok Imagine renders audio [INF]
        render_base=30.0,
        render_per_second=5.0,
        description="xAI Grok Imagine 1.5 Lite through Runway, 1080p upscaled from 720p, audio",
    ),
)
"""The models sorakit offers through Runway (a curated subset of the SDK's 25 literals)."""

BY_MODEL: dict[str, RunwayModel] = {spec.model: spec for spec in RUNWAY_MODELS}


def capabilities(spec: RunwayModel) -> ModelCapabilities:
    """The capability record of one Runway model."""
    per_second = (
        {size: round(spec.credits_per_second * USD_PER_CREDIT, 6) for size in spec.image_sizes}
        if spec.credits_per_second is not None
        else {}
    )
    extends = "extend" in spec.video_modes
    caps = ModelCapabilities(
        sizes=spec.sizes,
        seconds=spec.durations,
        default_size=spec.sizes[0],
        default_seconds=5 if 5 in spec.durations else spec.durations[0],
        image_reference=spec.image_to_video,
        text_to_video=spec.text_to_video,
        image_sizes=spec.image_sizes if spec.image_ratios else (),
        reference_sizes=spec.reference_sizes,
        extension=extends,
        edit="edit" in spec.video_modes,
        last_frame=spec.last_frame,
        reference_images=spec.reference_images,
        audio=spec.audio if spec.soundtrack is None else spec.soundtrack,
        max_extensions=6 if extends else 0,
        max_total_seconds=60 if extends else 0,
        price_per_second=per_second,
        render_seconds_base=spec.render_base,
        render_seconds_per_second=spec.render_per_second,
    )
    return with_unpriced(
        caps, f"providers.md gives no credit rate for {spec.model}; Runway bills it per task"
    )


def runway_models() -> list[ModelEntry]:
    """Every Runway-routed model, named `runway/<model>` so vendors on several routes never clash."""
    return [
        ModelEntry(
            name=f"{PROVIDER}/{spec.model}",
            provider=PROVIDER,
            provider_model=spec.model,
            capabilities=capabilities(spec),
            description=spec.description,
        )
        for spec in RUNWAY_MODELS
    ]
