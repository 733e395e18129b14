"""`sorakit media …`: probe, frames, fit, montage, stitch, trim and preview from the shell.

Each command prints the path it wrote as the last line of stdout (info goes to stderr), so scripts
can do `out=$(sorakit media stitch a.mp4 b.mp4 --out ab.mp4 | tail -1)`. Errors are `SorakitError`s
and are left to the main CLI, which turns them into one line and an exit code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

import typer

from sorakit import media
from sorakit.errors import MediaError

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="media",
    help="Probe, cut, fit and join media files (PyAV in-process; no ffmpeg needed).",
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option("--out", "-o", help="File to write.")]


def _info(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def probe(
    file: Annotated[Path, typer.Argument(help="Media file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show streams, size, rate, rotation and keyframes of a media file."""
    info = media.probe(file, require_video=False)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=2))
        return
    typer.echo(f"{info.path}: {info.format}, {info.duration:.3f} s, {info.size_bytes} bytes")
    if info.video is not None:
        v = info.video
        rate = "constant" if v.constant_frame_rate else "variable"
        typer.echo(
            f"  video: {v.codec} {v.profile or ''} {v.width}x{v.height} {v.pix_fmt}, "
            f"{float(v.frame_rate):g} fps ({rate}), {v.frames} frames, rotation {v.rotation}, "
            f"{len(v.keyframes)} keyframes"
        )
    if info.audio is not None:
        a = info.audio
        typer.echo(f"  audio: {a.codec} {a.sample_rate} Hz, {a.channels} ch ({a.layout})")


@app.command()
def frame(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    out: Out,
    last: Annotated[bool, typer.Option("--last", help="The last frame.")] = False,
    first: Annotated[bool, typer.Option("--first", help="The first frame.")] = False,
    at: Annotated[float | None, typer.Option("--at", help="The frame at SECONDS.")] = None,
) -> None:
    """Save one exact frame (first, last or at a time) as PNG/JPEG/WEBP."""
    if sum((last, first, at is not None)) != 1:
        raise MediaError("choose exactly one of --last, --first, --at SECONDS", param="frame")
    if last:
        image = media.last_frame(file)
    elif first:
        image = media.first_frame(file)
    else:
        assert at is not None
        image = media.frame_at(file, at)
    media.save_image(image, out)
    typer.echo(str(out))


@app.command()
def fit(
    image: Annotated[Path, typer.Argument(help="Image file.")],
    size: Annotated[str, typer.Option("--size", help="Target size, WxH.")],
    out: Out,
    mode: Annotated[str, typer.Option("--mode", help="crop, letterbox or pad.")] = "crop",
    background: Annotated[str, typer.Option("--background", help="Bar colour.")] = "black",
) -> None:
    """Fit an image to an exact size."""
    if mode not in ("crop", "letterbox", "pad"):
        raise MediaError(
            f"unknown mode {mode!r}", param="mode", allowed=("crop", "letterbox", "pad")
        )
    fit_mode: Literal["crop", "letterbox", "pad"] = mode  # type: ignore[assignment]
    fitted = media.fit_image(media.load_image(image), media.parse_size(size), fit_mode, background)
    media.save_image(fitted, out)
    typer.echo(str(out))


@app.command()
def montage(
    images: Annotated[list[Path], typer.Argument(help="Images, in order.")],
    out: Out,
    layout: Annotated[
        str, typer.Option("--layout", help="auto, 1xN, Nx1, 2x2, 3x2, 3x3, 3xN or CxR.")
    ] = "auto",
    tile: Annotated[str | None, typer.Option("--tile", help="Tile size WxH.")] = None,
    padding: Annotated[int, typer.Option("--padding")] = 0,
    background: Annotated[str, typer.Option("--background")] = "black",
) -> None:
    """Tile several images into one."""
    tile_size = media.parse_size(tile) if tile else None
    sheet = media.montage(images, layout, tile_size, padding, background)
    media.save_image(sheet, out)
    typer.echo(str(out))


@app.command()
def stitch(
    clips: Annotated[list[Path], typer.Argument(help="Clips, in order.")],
    out: Out,
    chained: Annotated[
        bool,
        typer.Option(
            "--chained", help="Each clip starts with the previous clip's last frame: drop it."
        ),
    ] = False,
    crossfade: Annotated[
        float, typer.Option("--crossfade", help="Crossfade SECONDS at each seam.")
    ] = 0.0,
    loudness: Annotated[
        bool, typer.Option("--loudness", help="Match loudness (EBU R128, -23 LUFS).")
    ] = False,
) -> None:
    """Join clips (stream copy when safe, otherwise as little re-encoding as possible)."""
    result = media.stitch(clips, out, chained=chained, crossfade=crossfade, loudness=loudness)
    _info(
        f"{result.strategy}: {result.frames} frames, {result.duration:.3f} s "
        f"({result.copied_frames} copied, {result.reencoded_frames} re-encoded; {result.reason})"
    )
    typer.echo(str(result.path))


@app.command()
def trim(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    seconds: Annotated[float, typer.Option("--seconds", "-s", help="Duration to keep.")],
    out: Out,
) -> None:
    """Keep exactly the first SECONDS of a clip (frame-exact)."""
    result = media.trim(file, out, seconds)
    _info(f"{result.strategy}: {result.frames} frames, {result.duration:.3f} s")
    typer.echo(str(result.path))


@app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    out: Out,
    seconds: Annotated[float, typer.Option("--seconds", "-s")] = 3.0,
    width: Annotated[int, typer.Option("--width")] = 320,
) -> None:
    """Write a short silent WebM or GIF preview (format from the suffix)."""
    fmt: Literal["webm", "gif"] = "gif" if out.suffix.lower() == ".gif" else "webm"
    typer.echo(str(media.preview(file, out, fmt, seconds, width)))
