"""From a `SubmitRequest` to a Runway create call, and the remote id that finds the task again.

A Runway task lives at `GET /v1/tasks/{id}` whatever endpoint made it, so the remote id only
adds what a new process needs to describe the job without the request: the model, the size and
the seconds, as `"<model>|<WxH>|<seconds>|<task id>"`.

A size goes on the wire as the model's endpoint frames it (`RunwayModel.text_framing` /
`image_framing`): a pixel `ratio`, an aspect `ratio` plus a `resolution` tier, a `resolution`
alone or an `auto_<tier>` ratio, where the aspect follows the first frame (fitted to the size).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from sorakit.catalog.runway import BY_MODEL, PROVIDER, Framing, RunwayModel
from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.providers.base import ReferenceImage, SubmitRequest

Endpoint = Literal["text_to_video", "image_to_video", "video_to_video"]

MAX_DATA_URI_BYTES = 5 * 1024 * 1024
"""Runway takes data URIs of up to 5 MB for images and videos."""


@dataclass(frozen=True)
class RemoteId:
    """The parts of a Runway remote id."""

    model: str
    size: str
    seconds: int
    task_id: str

    def __str__(self) -> str:
        return f"{self.model}|{self.size}|{self.seconds}|{self.task_id}"

    @classmethod
    def parse(cls, remote_id: str) -> RemoteId:
        """Split a remote id; a bare task id (from elsewhere) keeps only the task."""
        parts = remote_id.split("|")
        if len(parts) == 4 and parts[2].isdigit() and parts[3]:
            return cls(parts[0], parts[1], int(parts[2]), parts[3])
        if len(parts) == 1 and remote_id:
            return cls("", "", 0, remote_id)
        raise InvalidRequestError(f"{remote_id!r} is not a Runway job id", param="video_id")


@dataclass(frozen=True)
class CreateCall:
    """Which SDK resource to call and with which keyword arguments (snake_case, as the SDK takes)."""

    endpoint: Endpoint
    params: dict[str, Any]


def model_spec(model: str) -> RunwayModel:
    """The spec of a Runway model (with or without the `runway/` prefix)."""
    name = model.removeprefix(f"{PROVIDER}/")
    spec = BY_MODEL.get(name)
    if spec is None:
        raise InvalidRequestError(
            f"the runway provider has no model {model!r}",
            param="model",
            allowed=sorted(BY_MODEL),
        )
    return spec


def create_call(request: SubmitRequest, spec: RunwayModel, *, source_uri: str | None) -> CreateCall:
    """The create call for a request; anything the model cannot do is refused before sending."""
    if request.kind == "remix":
        raise InvalidRequestError(
            f"the Runway model {spec.model} cannot remix a video; generate a new one instead",
            param="model",
        )
    if request.kind in ("extend", "edit") and request.kind not in spec.video_modes:
        raise InvalidRequestError(
            f"the Runway model {spec.model} cannot {request.kind} a video "
            f"(only {', '.join(m.model for m in _with_mode(request.kind)) or 'no model'} can)",
            param="model",
        )
    _check_images(request, spec)
    ratio = _ratio(request, spec)
    params: dict[str, Any] = {"model": spec.model, "prompt_text": request.prompt}
    if request.kind in ("extend", "edit"):
        if request.reference is not None:
            raise InvalidRequestError(
                f"a Runway {request.kind} takes no reference image", param="input_reference"
            )
        if source_uri is None:
            raise InvalidRequestError(
                f"a Runway {request.kind} needs a source video", param="video"
            )
        params |= {"ratio": ratio, "duration": _duration(request, spec)}
        params |= _references(request)
        return CreateCall(
            "video_to_video", {**params, "video_uri": source_uri, "mode": request.kind}
        )
    image = request.reference is not None
    if image and not spec.image_to_video:
        raise InvalidRequestError(
            f"the Runway model {spec.model} takes no reference image", param="input_reference"
        )
    if not image and not spec.text_to_video:
        raise InvalidRequestError(
            f"the Runway model {spec.model} renders only from an image: "
            "send a reference image (input_reference)",
            param="input_reference",
        )
    params |= _framed(spec, ratio, spec.image_framing if image else spec.text_framing)
    params["duration"] = _duration(request, spec)
    if spec.audio:
        params["audio"] = True
    if request.reference is not None:
        frames = [{"uri": image_data_uri(request.reference), "position": "first"}]
        if request.last_frame is not None:
            uri = image_data_uri(request.last_frame, param="last_frame")
            frames.append({"uri": uri, "position": "last"})
        params["prompt_image"] = frames
        return CreateCall("image_to_video", params | _references(request))
    return CreateCall("text_to_video", params | _references(request))


def image_data_uri(image: ReferenceImage, *, param: str = "input_reference") -> str:
    """An image as a `data:` URI, refused when over Runway's 5 MB."""
    if len(image.data) > MAX_DATA_URI_BYTES * 3 // 4:
        raise ReferenceImageError(
            f"the {param.replace('_', ' ')} image is {len(image.data)} bytes; Runway takes "
            "images up to 5 MB as a data URI",
            param=param,
        )
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def video_data_uri(data: bytes, media_type: str) -> str:
    """An uploaded source clip as a `data:` URI, refused when over Runway's 5 MB."""
    if len(data) > MAX_DATA_URI_BYTES * 3 // 4:
        raise InvalidRequestError(
            f"the source video is {len(data)} bytes; Runway takes clips up to 5 MB as a data URI",
            param="video",
        )
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _with_mode(mode: str) -> list[RunwayModel]:
    return [spec for spec in BY_MODEL.values() if mode in spec.video_modes]


def _ratio(request: SubmitRequest, spec: RunwayModel) -> str:
    """The request's size as one of the model's `W:H` ratios."""
    ratios = list(spec.ratios)
    if request.reference is not None and request.kind == "generate":
        ratios += spec.image_ratios
    ratio = request.size.lower().replace("x", ":")
    if ratio not in ratios:
        raise InvalidRequestError(
            f"the Runway model {spec.model} renders {', '.join(r.replace(':', 'x') for r in ratios)}, "
            f"not {request.size}",
            param="size",
            allowed=[r.replace(":", "x") for r in ratios],
        )
    capped = request.reference_images and spec.reference_tiers
    if capped and spec.tiers.get(ratio) not in spec.reference_tiers:
        raise InvalidRequestError(
            f"the Runway model {spec.model} renders with reference images only at "
            f"{', '.join(spec.reference_tiers)}, not {request.size}",
            param="size",
        )
    return ratio


def _framed(spec: RunwayModel, ratio: str, framing: tuple[Framing, ...]) -> dict[str, str]:
    """The wire keys that frame a `ratio` on an endpoint framed as `framing`."""
    params: dict[str, str] = {}
    for kind in framing:
        if kind == "ratio":
            params["ratio"] = ratio
        elif kind == "aspect":
            params["ratio"] = spec.aspects[ratio]
        elif kind == "resolution":
            params["resolution"] = spec.tiers[ratio]
        else:  # auto: the aspect follows the first frame, which is fitted to the size
            params["ratio"] = f"auto_{spec.tiers[ratio]}"
    return params


def _check_images(request: SubmitRequest, spec: RunwayModel) -> None:
    """Refuse a last frame or reference images the model (or the request's kind) cannot take."""
    if request.last_frame is not None:
        if not spec.last_frame or request.kind != "generate":
            raise InvalidRequestError(
                f"the Runway model {spec.model} takes no last frame"
                + ("" if request.kind == "generate" else f" in an {request.kind}"),
                param="last_frame",
            )
        if request.reference is None:
            raise InvalidRequestError(
                f"the Runway model {spec.model} takes a last frame only after a first frame: "
                "send a reference image (input_reference) too",
                param="last_frame",
            )
    count = len(request.reference_images)
    if not count:
        return
    if not spec.reference_images:
        raise InvalidRequestError(
            f"the Runway model {spec.model} takes no reference images", param="reference_images"
        )
    if count > spec.reference_images:
        raise InvalidRequestError(
            f"the Runway model {spec.model} takes at most {spec.reference_images} reference "
            f"images, not {count}",
            param="reference_images",
        )
    frames = (request.reference is not None) + (request.last_frame is not None)
    if frames and spec.references_with_frames and count + frames > spec.reference_images:
        raise InvalidRequestError(
            f"the Runway model {spec.model} takes at most {spec.reference_images} images with "
            f"its frames, not {count} reference images and {frames} frames",
            param="reference_images",
        )
    if request.reference is not None and not spec.references_with_frames:
        # `references` lives on /v1/text_to_video only; image_to_video's promptImage cannot mix
        # keyframes with reference images.
        raise InvalidRequestError(
            f"the Runway model {spec.model} takes reference images only without a first frame "
            "(input_reference)",
            param="reference_images",
        )


def _references(request: SubmitRequest) -> dict[str, Any]:
    if not request.reference_images:
        return {}
    uris = [
        image_data_uri(image, param=f"reference_images[{index}]")
        for index, image in enumerate(request.reference_images)
    ]
    return {"references": [{"uri": uri} for uri in uris]}


def _duration(request: SubmitRequest, spec: RunwayModel) -> int:
    if request.seconds not in spec.durations:
        allowed = [str(d) for d in spec.durations]
        raise InvalidRequestError(
            f"the Runway model {spec.model} renders {', '.join(allowed)} seconds, "
            f"not {request.seconds}",
            param="seconds",
            allowed=allowed,
        )
    return int(request.seconds)
