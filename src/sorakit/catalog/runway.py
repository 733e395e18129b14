"""The models sorakit routes through Runway's API: its own and the other vendors it resells.

Every figure comes from `shared/reference/providers.md` §5 (runwayml 5.24.0's request types):
ratios are the ones both `/v1/text_to_video` and `/v1/image_to_video` accept (so a size works
with and without a reference image), durations are the integers each model takes, and `last`
marks models whose `promptImage` takes a `position: "last"` frame. Prices are Runway credits per
second at $0.01 a credit; only the four models providers.md prices carry one, the others are
left unpriced rather than guessed (the task's own `cost.credits` is recorded either way).
Render times are estimates [INF].
"""

from __future__ import annotations

from dataclasses import dataclass

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry

PROVIDER = "runway"
USD_PER_CREDIT = 0.01
"""Runway API credits are sold at $0.01 each (providers.md §5.2)."""


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
        soundtrack=True,  # no switch: Omni always renders audio (providers.md §2)
        render_base=60.0,
        render_per_second=10.0,
        description="Google Gemini Omni Flash 1.1 through Runway, with edit and extend",
    ),
)
"""The models sorakit offers through Runway (a curated subset of the SDK's 25 literals)."""

BY_MODEL: dict[str, RunwayModel] = {spec.model: spec for spec in RUNWAY_MODELS}


def capabilities(spec: RunwayModel) -> ModelCapabilities:
    """The capability record of one Runway model."""
    per_second = (
        {size: round(spec.credits_per_second * USD_PER_CREDIT, 6) for size in spec.sizes}
        if spec.credits_per_second is not None
        else {}
    )
    extends = "extend" in spec.video_modes
    return ModelCapabilities(
        sizes=spec.sizes,
        seconds=spec.durations,
        default_size=spec.sizes[0],
        default_seconds=5 if 5 in spec.durations else spec.durations[0],
        image_reference=spec.image_to_video,
        extension=extends,
        edit="edit" in spec.video_modes,
        last_frame=spec.last_frame,
        audio=spec.audio if spec.soundtrack is None else spec.soundtrack,
        max_extensions=6 if extends else 0,
        max_total_seconds=60 if extends else 0,
        price_per_second=per_second,
        render_seconds_base=spec.render_base,
        render_seconds_per_second=spec.render_per_second,
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
