"""fal's model input schemas (providers.md §4.3) and the pydantic-style 422 check of a submit.

The queue fake in `fal_fake` validates each submit against these: missing, extra or wrongly typed
fields, a string duration where the model wants an int and the reverse, values outside a model's
tables, too many reference images. They are written from providers.md and fal's model pages, not
from the adapter's input maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Field = tuple[type, tuple[Any, ...] | None]
"""A field's exact JSON type and, where the schema has one, its allowed values; for a list of
URLs, `(max_items,)`."""

ASPECTS_5 = ("16:9", "9:16", "1:1", "4:3", "3:4")


def _strs(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(first, last + 1))


def _schema(
    fields: Mapping[str, Field], required: tuple[str, ...] = ("prompt",)
) -> tuple[dict[str, Field], frozenset[str]]:
    return {"prompt": (str, None), **fields}, frozenset(required)


_KLING = {
    "duration": (str, _strs(3, 15)),
    "generate_audio": (bool, None),
    "negative_prompt": (str, None),
    "cfg_scale": (float, None),
}
_SEEDANCE = {
    "duration": (str, ("auto", *_strs(4, 15))),
    "resolution": (str, ("480p", "720p")),
    "aspect_ratio": (str, ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")),
    "seed": (int, None),
    "end_user_id": (str, None),
}
_HAPPY = {
    "duration": (int, tuple(range(3, 16))),
    "resolution": (str, ("720p", "1080p")),
    "aspect_ratio": (str, ASPECTS_5),
    "seed": (int, None),
    "enable_safety_checker": (bool, None),
}
_VEO = {
    "duration": (str, ("4s", "6s", "8s")),
    "resolution": (str, ("720p", "1080p", "4k")),
    "aspect_ratio": (str, ("16:9", "9:16")),
    "generate_audio": (bool, None),
    "negative_prompt": (str, None),
    "seed": (int, None),
    "auto_fix": (bool, None),
    "safety_tolerance": (str, _strs(1, 6)),
}
_WAN = {
    "duration": (int, tuple(range(2, 16))),
    "resolution": (str, ("720p", "1080p")),
    "aspect_ratio": (str, ASPECTS_5),
    "audio_url": (str, None),
    "enable_prompt_expansion": (bool, None),
}
_LTX = {
    "duration": (int, (6, 8, 10)),
    "resolution": (str, ("1080p", "1440p", "2160p")),
    "aspect_ratio": (str, ("16:9", "9:16")),
    "generate_audio": (bool, None),
    "fps": (int, (24, 25, 48, 50)),
}
_HAILUO = {"duration": (str, ("6", "10")), "prompt_optimizer": (bool, None)}
_HAILUO_PRO = {"prompt_optimizer": (bool, None)}
_OMNI = {"duration": (int, tuple(range(3, 11))), "aspect_ratio": (str, ("16:9", "9:16"))}
_IMAGE = {"image_url": (str, None)}
_END = {"end_image_url": (str, None)}
_I2V = ("prompt", "image_url")
_SEEDANCE_REFS = {
    **_SEEDANCE,
    "image_urls": (list, (9,)),
    "video_urls": (list, (3,)),
    "audio_urls": (list, (3,)),
}
_VEO_FRAMES = {
    **_VEO,
    "first_frame_url": (str, None),
    "last_frame_url": (str, None),
    "aspect_ratio": (str, ("auto", "16:9", "9:16")),
}

SCHEMAS: dict[str, tuple[dict[str, Field], frozenset[str]]] = {
    "fal-ai/kling-video/v3/pro/text-to-video": _schema(
        {**_KLING, "aspect_ratio": (str, ("16:9", "9:16", "1:1"))}
    ),
    "fal-ai/kling-video/v3/pro/image-to-video": _schema(
        {**_KLING, **_END, "start_image_url": (str, None)}, ("prompt", "start_image_url")
    ),
    "bytedance/seedance-2.0/text-to-video": _schema(_SEEDANCE),
    "bytedance/seedance-2.0/image-to-video": _schema({**_SEEDANCE, **_IMAGE}, _I2V),
    "bytedance/seedance-2.0/reference-to-video": _schema(_SEEDANCE_REFS),
    "bytedance/seedance-2.0/fast/text-to-video": _schema(_SEEDANCE),
    "bytedance/seedance-2.0/fast/image-to-video": _schema({**_SEEDANCE, **_IMAGE}, _I2V),
    "bytedance/seedance-2.0/fast/reference-to-video": _schema(_SEEDANCE_REFS),
    "alibaba/happy-horse/text-to-video": _schema(_HAPPY),
    "alibaba/happy-horse/image-to-video": _schema({**_HAPPY, **_IMAGE}, _I2V),
    "fal-ai/veo3.1": _schema(_VEO),
    "fal-ai/veo3.1/image-to-video": _schema(
        {**_VEO, **_IMAGE, "aspect_ratio": (str, ("auto", "16:9", "9:16"))}, _I2V
    ),
    "fal-ai/veo3.1/first-last-frame-to-video": _schema(
        _VEO_FRAMES, ("prompt", "first_frame_url", "last_frame_url")
    ),
    "fal-ai/veo3.1/reference-to-video": _schema(
        {**_VEO, "image_urls": (list, (3,))}, ("prompt", "image_urls")
    ),
    "fal-ai/veo3.1/fast": _schema(_VEO),
    "fal-ai/veo3.1/fast/extend-video": _schema(
        {
            "video_url": (str, None),
            "duration": (str, ("7s",)),
            "resolution": (str, ("720p",)),
            "aspect_ratio": (str, ("auto", "16:9", "9:16")),
            "generate_audio": (bool, None),
            "negative_prompt": (str, None),
            "seed": (int, None),
            "auto_fix": (bool, None),
        },
        ("prompt", "video_url"),
    ),
    "fal-ai/wan/v2.7/text-to-video": _schema(_WAN),
    "fal-ai/wan/v2.7/image-to-video": _schema({**_WAN, **_IMAGE, **_END}, _I2V),
    "fal-ai/ltx-2.3/text-to-video": _schema(_LTX),
    "fal-ai/ltx-2.3/image-to-video": _schema({**_LTX, **_IMAGE, **_END}, _I2V),
    "fal-ai/minimax/hailuo-2.3/standard/text-to-video": _schema(_HAILUO),
    "fal-ai/minimax/hailuo-2.3/standard/image-to-video": _schema({**_HAILUO, **_IMAGE}, _I2V),
    "fal-ai/minimax/hailuo-2.3/pro/text-to-video": _schema(_HAILUO_PRO),
    "fal-ai/minimax/hailuo-2.3/pro/image-to-video": _schema({**_HAILUO_PRO, **_IMAGE}, _I2V),
    "google/gemini-omni-flash": _schema(_OMNI),
    "google/gemini-omni-flash/image-to-video": _schema({**_OMNI, **_IMAGE}, _I2V),
    "google/gemini-omni-flash/reference-to-video": _schema(
        {**_OMNI, "image_urls": (list, (3,))}, ("prompt", "image_urls")
    ),
}


def validation_error(loc: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", loc], "msg": msg, "type": kind}


def check(arguments: Any, schema: tuple[dict[str, Field], frozenset[str]]) -> list[dict[str, Any]]:
    """The pydantic-style errors of a body against one schema; empty when it passes."""
    fields, required = schema
    if not isinstance(arguments, dict):
        return [validation_error("", "Input should be an object", "dict_type")]
    errors = [
        validation_error(name, "Field required", "missing")
        for name in sorted(required)
        if name not in arguments
    ]
    for name, value in arguments.items():
        spec = fields.get(name)
        if spec is None:
            errors.append(
                validation_error(name, "Extra inputs are not permitted", "extra_forbidden")
            )
            continue
        kind, allowed = spec
        if type(value) is not kind and not (kind is float and type(value) is int):
            errors.append(
                validation_error(
                    name, f"Input should be a valid {kind.__name__}", f"{kind.__name__}_type"
                )
            )
        elif isinstance(value, list):
            errors.extend(_list_errors(name, value, allowed))
        elif allowed is not None and value not in allowed:
            options = ", ".join(repr(a) for a in allowed)
            errors.append(validation_error(name, f"Input should be {options}", "literal_error"))
    return errors


def _list_errors(name: str, value: list[Any], allowed: tuple[Any, ...] | None) -> list[Any]:
    """A list of URLs (or data URIs) no longer than its cap."""
    errors = []
    if allowed is not None and len(value) > allowed[0]:
        errors.append(
            validation_error(name, f"List should have at most {allowed[0]} items", "too_long")
        )
    if not all(isinstance(v, str) and v.startswith(("http", "data:")) for v in value):
        errors.append(validation_error(name, "Input should be a valid URL", "url_type"))
    return errors
