"""Per-model request schemas for the Runway fake, copied from the runwayml SDK's request types.

One `Schema` per model and endpoint (wire names, camelCase; the `ratio` / `resolution` enums, the
keyframe positions, the `references` bounds) and the `FakeModel` around them, as runwayml 5.24.0
types them; `runway_fake` validates every create body against `MODELS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_GEN4 = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
_VEO = ("1280:720", "720:1280", "1080:1920", "1920:1080")
_OMNI: tuple[str, ...] = ("640:360", "360:640", "1280:720", "720:1280", "1920:1080", "1080:1920")
_OMNI += ("3840:2160", "2160:3840")
_SEEDANCE: tuple[str, ...] = (
    "992:432",
    "864:496",
    "752:560",
    "640:640",
    "560:752",
    "496:864",
    "1470:630",
)
_SEEDANCE += ("1280:720", "1112:834", "960:960", "834:1112", "720:1280", "2206:946")
_SEEDANCE += ("1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920", "3840:1646")
_SEEDANCE += ("3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840")
_HAPPYHORSE: tuple[str, ...] = (
    "1280:720",
    "720:1280",
    "960:960",
    "1108:832",
    "832:1108",
    "1920:1080",
)
_HAPPYHORSE += ("1080:1920", "1440:1440", "1662:1248", "1248:1662")
_KLING4: tuple[str, ...] = (
    "1280:720",
    "720:1280",
    "940:940",
    "1460:624",
    "1920:1080",
    "1080:1920",
    "1440:1440",
)
_KLING4 += ("2200:940",)
_AUTO = ("auto_480p", "auto_720p", "auto_1080p")
_WAN: tuple[str, ...] = (
    "832:480",
    "720:544",
    "624:624",
    "544:720",
    "480:832",
    "1280:720",
    "1104:832",
)
_WAN += ("960:960", "832:1104", "720:1280", "1920:1080", "1648:1248", "1440:1440")
_WAN += ("1248:1648", "1080:1920", *_AUTO)
_HAILUO_ASPECTS = ("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_GROK_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
_GROK_LITE = {  # the lite model's pixel ratios, per tier in _GROK_ASPECTS' order
    "480p": ("848:480", "480:848", "480:480", "640:480", "480:640", "720:480", "480:720"),
    "720p": ("1280:720", "720:1280", "720:720", "960:720", "720:960", "1088:720", "720:1088"),
    "1080p": ("1904:1072", "1072:1904", "1424:1424", "1648:1232", "1232:1648", "1744:1152")
    + ("1152:1744",),
}
_GROK_FRAMES = {
    (aspect, tier): ratio
    for tier, ratios in _GROK_LITE.items()
    for aspect, ratio in zip(_GROK_ASPECTS, ratios, strict=True)
}
_HAILUO_FRAMES = {("16:9", "768p"): "1366:768", ("9:16", "768p"): "768:1366"}
_HAILUO_FRAMES |= {("1:1", "768p"): "768:768", ("16:9", "2k"): "2560:1440"}
_HAILUO_FRAMES |= {("9:16", "2k"): "1440:2560", ("1:1", "2k"): "1440:1440"}


@dataclass(frozen=True)
class Schema:
    """One model's body on one endpoint, as the SDK types it (wire names, camelCase)."""

    required: frozenset[str]
    optional: frozenset[str]
    ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    positions: tuple[str, ...] = ("first",)
    reference_mode: bool = False
    """`promptImage` may hold position-less reference images (never mixed with keyframes)."""
    keyframe_ratios: tuple[str, ...] = ()
    """The only ratios allowed with keyframes, where the model restricts them (Wan: auto_*)."""
    max_references: int | None = None
    """The `references` bound the SDK states (None: it states none)."""
    frames_count: bool = False
    """The bound counts the `promptImage` frames too (Kling 4: 10 images in total)."""


@dataclass(frozen=True)
class FakeModel:
    """What the fake accepts for one model."""

    endpoints: dict[str, Schema]
    durations: tuple[int, ...]
    auto_duration: bool = False
    credits_per_second: int = 10
    reference_resolutions: tuple[str, ...] = ()
    """Resolutions allowed with `references`, where the model caps them (Grok: up to 720p)."""
    frames: dict[tuple[str, str], str] = field(default_factory=dict)
    """(aspect, resolution) -> the pixel size rendered, for aspect-framed models."""


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


_T2V, _I2V = _keys("model", "promptText"), _keys("model", "promptImage")
_KF = ("first", "last")
_GEN45_OPTIONS = _keys("contentModeration", "outputFormat", "proresProfile", "seed")
_VEO_OPTIONS = _keys("audio", "duration", "negativePrompt", "seed")
_KLING_OPTIONS = _keys("audio", "cfgScale", "duration", "promptText", "providerSettings")
_REF_MEDIA = _keys("referenceAudio", "references", "referenceVideos")
_RES = ("720p", "1080p", "720P", "1080P")
_GROK_RES = ("480p", "720p", "1080p")


def _veo(credits: int) -> FakeModel:
    return FakeModel(
        {
            "text_to_video": Schema(_T2V | {"ratio"}, _VEO_OPTIONS, _VEO),
            "image_to_video": Schema(
                _I2V | {"ratio"}, _VEO_OPTIONS | {"promptText"}, _VEO, positions=_KF
            ),
        },
        (4, 6, 8),
        credits_per_second=credits,
    )


def _kling(ratios: tuple[str, ...]) -> FakeModel:
    return FakeModel(
        {
            "text_to_video": Schema(_keys("model", "ratio"), _KLING_OPTIONS, ratios),
            "image_to_video": Schema(_I2V, _KLING_OPTIONS | {"ratio"}, ratios, positions=_KF),
        },
        tuple(range(3, 16)),
    )


def _wan() -> FakeModel:
    i2v_options = _keys("audio", "duration", "ratio", "referenceAudio", "referenceVideos")
    return FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _REF_MEDIA | {"audio", "duration", "ratio"}, _WAN, max_references=10
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"},
                i2v_options,
                _WAN,
                positions=_KF,
                reference_mode=True,
                keyframe_ratios=_AUTO,
            ),
        },
        tuple(range(2, 16)),
    )


MODELS: dict[str, FakeModel] = {
    "gen4.5": FakeModel(
        {
            "text_to_video": Schema(
                _T2V | {"ratio", "duration"}, _GEN45_OPTIONS, ("1280:720", "720:1280")
            ),
            "image_to_video": Schema(
                _I2V | {"ratio", "duration"}, _GEN45_OPTIONS | {"promptText"}, _GEN4
            ),
        },
        tuple(range(2, 11)),
        credits_per_second=12,
    ),
    "gen4_turbo": FakeModel(
        {
            "image_to_video": Schema(
                _I2V | {"ratio"},
                _keys("contentModeration", "duration", "promptText", "seed"),
                _GEN4,
            )
        },
        tuple(range(2, 11)),
        credits_per_second=5,
    ),
    "veo3.1": _veo(40),
    "veo3.1_fast": _veo(15),
    "kling3.0_pro": _kling(("1920:1080", "1080:1920", "1440:1440")),
    "kling3.0_standard": _kling(("1280:720", "720:1280", "960:960")),
    "seedance2": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _REF_MEDIA | {"audio", "duration", "ratio", "seed"},
                _SEEDANCE,
                max_references=9,
            ),
            "image_to_video": Schema(
                _I2V,
                _keys("audio", "duration", "promptText", "ratio", "referenceAudio", "seed"),
                _SEEDANCE,
                positions=_KF,
                reference_mode=True,
            ),
        },
        tuple(range(4, 16)),
        auto_duration=True,
    ),
    "gemini_omni_flash_1.1": FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _keys("duration", "ratio", "references", "referenceVideos"), _OMNI
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"}, _keys("duration", "ratio"), _OMNI, positions=_KF
            ),
            "video_to_video": Schema(
                _keys("model", "promptText", "videoUri"),
                _keys("duration", "mode", "ratio", "references"),
                _OMNI,
            ),
        },
        tuple(range(3, 11)),
        auto_duration=True,
    ),
    "kling_4": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _keys("duration", "ratio", "references", "referenceVideos"),
                _KLING4 + ("auto_720p", "auto_1080p"),
                max_references=10,
            ),
            "image_to_video": Schema(
                _I2V,
                _keys("duration", "promptText", "ratio", "references", "referenceVideos"),
                ("auto_720p", "auto_1080p"),
                positions=_KF,
                max_references=10,
                frames_count=True,
            ),
        },
        tuple(range(3, 16)),
    ),
    "happyhorse_1_0": FakeModel(
        {
            "text_to_video": Schema(_T2V, _keys("duration", "ratio"), _HAPPYHORSE),
            "image_to_video": Schema(
                _I2V, _keys("duration", "promptText", "resolution"), resolutions=_RES
            ),
        },
        tuple(range(3, 16)),
    ),
    "hailuo3": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _REF_MEDIA | {"duration", "ratio", "resolution"},
                _HAILUO_ASPECTS,
                ("768p", "2k", "768P", "2K"),
                max_references=9,
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"},
                _keys("duration", "ratio", "referenceAudio", "resolution"),
                _HAILUO_ASPECTS,
                ("768p", "2k", "768P", "2K"),
                positions=_KF,
                reference_mode=True,
            ),
        },
        (6, 10),
        frames=_HAILUO_FRAMES,
    ),
    "wan3": _wan(),
    "wan3_prime": _wan(),
    "grok_imagine_1_5": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _keys("duration", "ratio", "referenceAudio", "references", "resolution"),
                _GROK_ASPECTS,
                _GROK_RES,
            ),
            "image_to_video": Schema(
                _I2V, _keys("duration", "promptText", "resolution"), resolutions=_GROK_RES
            ),
        },
        tuple(range(1, 16)),
        reference_resolutions=("480p", "720p"),
        frames=_GROK_FRAMES,
    ),
    "grok_imagine_1_5_lite": FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _keys("duration", "ratio"), tuple(r for v in _GROK_LITE.values() for r in v)
            ),
            "image_to_video": Schema(_I2V, _keys("duration", "promptText", "ratio"), _AUTO),
        },
        tuple(range(1, 16)),
    ),
}
