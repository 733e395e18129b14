"""Request bodies for `/v1/videos`: one JSON-shaped body per job kind, sent as JSON or multipart.

A body goes out as JSON when no file travels with it, and as `multipart/form-data` when one does
(a reference image, an uploaded source video) or when the server reads forms only
(`SORAKIT_OPENAI_FORM_BODIES`, or learnt from its refusal of a JSON body: see `OpenAIProvider`).
Multipart fields use the bracket notation the official SDK sends (`input_reference[image_url]`, `video[id]`, `characters[][id]`) and each file
part is named after its field. `seconds` is always a string, in JSON as in forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from sorakit.errors import InvalidRequestError
from sorakit.providers.base import SubmitRequest
from sorakit.wire.videos import Video

FileTuple = tuple[str, bytes, str]
"""`(filename, content, media_type)`, as httpx takes a file part."""

FormBodies = Literal["auto", "always"]
"""When a body without a file goes as a form: after a server refused it as JSON, or always."""

_IMAGE_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


@dataclass(frozen=True)
class Body:
    """Where a request goes and what it carries."""

    path: str
    fields: dict[str, Any]
    files: dict[str, FileTuple] = field(default_factory=dict)

    def httpx_kwargs(self, *, form: bool = False) -> dict[str, Any]:
        """`json=` when no file travels and `form` is false, else `data=` (bracket-flattened)
        and `files=` (multipart even without a file, as a form-only server needs)."""
        if self.files:
            return {"data": form_fields(self.fields), "files": self.files}
        if not form:
            return {"json": self.fields}
        # httpx makes multipart only from `files`; a `(None, text)` part is a plain form field.
        # A url-encoded form would not do: SGLang reads a form only when it is multipart.
        parts = [
            (key, (None, value))
            for key, values in form_fields(self.fields).items()
            for value in values
        ]
        return {"files": parts}


def path_segment(value: str, param: str) -> str:
    """An id quoted for use as one path segment; an empty id is refused before sending."""
    if not value:
        raise InvalidRequestError(f"{param} must not be empty", param=param)
    return quote(value, safe="")


def submit_body(request: SubmitRequest) -> Body:
    """The endpoint and body that create the job `request` describes."""
    if request.kind != "generate":
        _refuse_generate_only(request)
    if request.kind == "generate":
        fields: dict[str, Any] = {
            "prompt": request.prompt,
            "model": request.model,
            "seconds": str(request.seconds),
            "size": request.size,
        }
        if request.characters:
            fields["characters"] = [{"id": character} for character in request.characters]
        files: dict[str, FileTuple] = {}
        if request.reference is not None:
            ref = request.reference
            suffix = _IMAGE_SUFFIXES.get(ref.media_type, "")
            files["input_reference"] = (f"reference{suffix}", ref.data, ref.media_type)
        return Body("/videos", fields, files)
    if request.kind == "remix":
        if request.source_id is None:
            raise InvalidRequestError("a remix needs the id of its source video", param="video_id")
        return Body(
            f"/videos/{path_segment(request.source_id, 'video_id')}/remix",
            {"prompt": request.prompt},
        )
    if request.kind == "extend":
        fields = {"prompt": request.prompt, "seconds": str(request.seconds)}
        return _with_video(Body("/videos/extensions", fields), request, send_model=False)
    fields = {"prompt": request.prompt}
    return _with_video(Body("/videos/edits", fields), request, send_model=True)


def _refuse_generate_only(request: SubmitRequest) -> None:
    if request.reference is not None:
        raise InvalidRequestError(
            f"a {request.kind} takes no reference image on /v1/videos", param="input_reference"
        )
    if request.characters:
        raise InvalidRequestError(
            f"a {request.kind} takes no characters on /v1/videos", param="characters"
        )


def _with_video(body: Body, request: SubmitRequest, *, send_model: bool) -> Body:
    """Add the source video: `video: {id}` as JSON, or the uploaded clip as a `video` file part."""
    # The guide asks for an explicit `model` when an edit uploads its source; the spec has no
    # `model` on extensions, so none is sent there.
    if request.source_video is not None:
        clip = request.source_video
        fields = dict(body.fields)
        if send_model:
            fields["model"] = request.model
        files = {"video": (clip.filename, clip.data, clip.media_type)}
        return Body(body.path, fields, files)
    if request.source_id is None:
        raise InvalidRequestError(
            f"a {request.kind} needs a source video id or an uploaded clip", param="video"
        )
    return Body(body.path, {**body.fields, "video": {"id": request.source_id}})


def form_fields(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Flatten a JSON-shaped body into form fields with bracket keys (`a[b]`, `a[][b]`)."""
    out: dict[str, list[str]] = {}
    for key, value in fields.items():
        _flatten(key, value, out)
    return out


def _flatten(key: str, value: Any, out: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for sub, item in value.items():
            _flatten(f"{key}[{sub}]", item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _flatten(f"{key}[]", item, out)
    elif value is not None:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.setdefault(key, []).append(text)


def matches(video: Video, request: SubmitRequest) -> bool:
    """Whether `video` looks like the job `request` would have made (the `find` heuristic)."""
    if video.prompt != request.prompt:
        return False
    if request.kind == "generate":
        return (
            video.model == request.model
            and video.size == request.size
            and video.seconds == str(request.seconds)
        )
    if request.kind == "remix":
        return video.remixed_from_video_id == request.source_id
    if request.kind == "extend":
        # The job reports the stitched total, which includes the source's own seconds.
        return video.size == request.size and _seconds(video.seconds) >= request.seconds
    return video.size == request.size


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return -1.0
