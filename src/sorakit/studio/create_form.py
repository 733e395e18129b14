"""The Create form as the browser posts it (multipart), read once for create, preview and enhance.

Files are read here with a cap, so an upload far over the image limit is refused without being
held in memory whole; what an image is, and whether it is one, is the media layer's to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from sorakit.engine.planning import check_prompt
from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.media.images import MAX_IMAGE_BYTES
from sorakit.studio.create_choices import Asked

MAX_UPLOADS = 12
"""Images per field: a montage of more has tiles too small to guide a video."""
_NAME_LENGTH = 100
"""A style or chat model name kept with a job is cut to this."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name (for messages) and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class CreateForm:
    """Everything the Create form sends."""

    prompt: str
    model: str
    asked: Asked
    references: tuple[Upload, ...]
    """First-frame images; several make one montage."""
    last_frame: Upload | None
    subjects: tuple[Upload, ...]
    from_last_frame: str
    """A job whose last frame opens the video (its owner's, checked when used)."""
    from_image: str
    """A drawn image (`create_draw`) that is a first frame (its owner's, checked when used)."""
    enhanced_from: str
    enhanced_style: str
    enhanced_model: str
    csrf_token: str

    def enhanced(self) -> dict[str, Any] | None:
        """What the job keeps of an enhancement (as `client.generate` records it), if one was used."""
        original = self.enhanced_from.strip()
        if not original or original == self.prompt.strip():
            return None
        check_prompt(self.enhanced_from)  # the prompt before it: no longer than a prompt
        return {
            "original": self.enhanced_from,
            "style": self.enhanced_style[:_NAME_LENGTH] or None,
            "model": self.enhanced_model[:_NAME_LENGTH] or None,
            "note": None,
        }


def text(form: FormData, name: str) -> str:
    """A text field ('' when absent, or when a file came in its place)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def uploads(form: FormData, name: str) -> tuple[Upload, ...]:
    """The files sent in a field; an empty file input (no name, no bytes) sends none."""
    files = [
        item
        for item in form.getlist(name)
        if isinstance(item, UploadFile) and (item.filename or item.size)
    ]
    if len(files) > MAX_UPLOADS:
        raise InvalidRequestError(
            f"{len(files)} images were sent; at most {MAX_UPLOADS} can be used at once.",
            param=name,
        )
    read = []
    for item in files:
        data = await item.read(MAX_IMAGE_BYTES + 1)
        label = item.filename or "the image"
        if len(data) > MAX_IMAGE_BYTES:
            raise ReferenceImageError(
                f"“{label}” is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB, the limit.",
                param=name,
            )
        read.append(Upload(label, data))
    return tuple(read)


async def posted_form(request: Request) -> CreateForm:
    """The Create form of a request; its spooled files are closed once read."""
    try:
        async with request.form() as form:
            return await read_form(form)
    except HTTPException as exc:  # a body that is no form Starlette can parse
        raise InvalidRequestError(f"The form could not be read: {exc.detail}") from None


async def read_form(form: FormData) -> CreateForm:
    """The Create form's fields; the seconds and size typed by hand win over the picked ones."""
    references = await uploads(form, "reference")
    subjects = await uploads(form, "reference_images")
    last = await uploads(form, "last_frame")
    from_last_frame = text(form, "from_last_frame").strip()
    from_image = text(form, "from_image").strip()
    asked = Asked(
        seconds=text(form, "seconds") or None,
        size=text(form, "size") or None,
        other_seconds=text(form, "other_seconds"),
        other_size=text(form, "other_size"),
        strict=bool(text(form, "strict")),
        first_frames=len(references) + int(bool(from_last_frame)) + int(bool(from_image)),
        subjects=len(subjects),
        layout=text(form, "layout") or "auto",
    )
    return CreateForm(
        prompt=text(form, "prompt"),
        model=text(form, "model"),
        asked=asked,
        references=references,
        last_frame=last[0] if last else None,
        subjects=subjects,
        from_last_frame=from_last_frame,
        from_image=from_image,
        enhanced_from=text(form, "enhanced_from"),
        enhanced_style=text(form, "enhanced_style"),
        enhanced_model=text(form, "enhanced_model"),
        csrf_token=text(form, "csrf_token"),
    )
