"""Audio: decode to float arrays, measure loudness (EBU R128 / ITU-R BS.1770-4), build joined tracks.

`integrated_loudness` follows BS.1770-4: K-weighting (a high-shelf and a high-pass biquad designed for
the actual sample rate as libebur128 does; at 48 kHz they equal the coefficients in the standard), mean
square over 400 ms blocks with 75 % overlap, an absolute gate at -70 LUFS, then a relative gate
10 LU below the absolutely gated loudness. The filters run in the frequency domain (one FFT of the
zero-padded signal times the exact rational response), which needs numpy only; the padding is long
enough for the filters' impulse responses to die out, so the result matches a sample-by-sample IIR.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import av
import numpy as np
from numpy.typing import NDArray

from sorakit.errors import MediaError
from sorakit.media._av import Packet, open_input

logger = logging.getLogger(__name__)

Samples = NDArray[np.float32]
"""Planar float samples shaped (channels, n)."""

SILENCE_LUFS = -70.0


def decode_audio(path: str | os.PathLike[str], rate: int, layout: str) -> Samples:
    """All audio of a file, resampled to `rate`/`layout`, starting at the video's time zero."""
    channels = 1 if layout == "mono" else 2
    with open_input(path) as container:
        if not container.streams.audio:
            return np.zeros((channels, 0), dtype=np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        chunks: list[Samples] = []
        lead = 0
        for index, frame in enumerate(container.decode(stream)):
            if index == 0 and frame.time:
                lead = max(0, round(frame.time * rate))
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().astype(np.float32, copy=False))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().astype(np.float32, copy=False))
    body = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    if lead:
        body = np.concatenate([np.zeros((channels, lead), np.float32), body], axis=1)
    return body


def _biquads(rate: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """The two K-weighting stages (b, a) for a sample rate, as libebur128 designs them."""
    k = math.tan(math.pi * 1681.974450955533 / rate)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = (
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    )
    shelf_a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    k = math.tan(math.pi * 38.13547087602444 / rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    pass_a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    return [(shelf_b, shelf_a), ((1.0, -2.0, 1.0), pass_a)]


def k_weight(samples: Samples, rate: int) -> NDArray[np.float64]:
    """Apply the K-weighting filter to each channel."""
    n = samples.shape[1]
    size = 1 << math.ceil(math.log2(n + rate))  # >= 1 s of tail for the responses to decay
    z = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))
    response = np.ones_like(z)
    for b, a in _biquads(rate):
        num = b[0] + b[1] * z + b[2] * z * z
        den = a[0] + a[1] * z + a[2] * z * z
        response *= num / den
    spectrum = np.fft.rfft(samples.astype(np.float64), n=size, axis=1)
    return np.fft.irfft(spectrum * response, n=size, axis=1)[:, :n]


def integrated_loudness(samples: Samples, rate: int) -> float:
    """Integrated loudness in LUFS of planar samples (-inf for silence or clips under 400 ms)."""
    if samples.shape[1] < int(0.4 * rate):
        return float("-inf")
    weighted = k_weight(samples, rate)
    block, step = int(0.4 * rate), int(0.1 * rate)
    squares = np.cumsum(np.pad(weighted**2, ((0, 0), (1, 0))), axis=1)
    starts = np.arange(0, samples.shape[1] - block + 1, step)
    power = ((squares[:, starts + block] - squares[:, starts]) / block).sum(axis=0)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = power[loudness > SILENCE_LUFS]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * math.log10(float(gated.mean())) - 10
    final = power[(loudness > SILENCE_LUFS) & (loudness > relative)]
    return float(-0.691 + 10 * math.log10(float(final.mean())))


def measure_loudness(path: str | os.PathLike[str]) -> float:
    """Integrated loudness (LUFS) of a file's first audio stream."""
    with open_input(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: has no audio stream", param="path")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
    return integrated_loudness(decode_audio(path, rate, layout), rate)


def fit_length(samples: Samples, length: int) -> Samples:
    """Cut or pad with silence to exactly `length` samples."""
    have = samples.shape[1]
    if have >= length:
        return samples[:, :length]
    return np.pad(samples, ((0, 0), (0, length - have)))


def gain_for(measured: float, target: float, limit_db: float = 20.0) -> float:
    """Linear gain taking `measured` LUFS to `target`, capped at `limit_db` (1.0 for silence)."""
    if not math.isfinite(measured):
        return 1.0
    return float(10 ** (max(-limit_db, min(limit_db, target - measured)) / 20))


@dataclass(frozen=True)
class AudioTrack:
    """A whole output audio track, ready to encode."""

    samples: Samples
    rate: int
    layout: str
    bitrate: int = 128_000


def encode_track(out: av.container.OutputContainer, track: AudioTrack) -> list[Packet]:
    """Add an AAC stream to `out` and encode the whole track; returns the packets to mux."""
    stream = out.add_stream("aac", rate=track.rate)
    stream.layout = track.layout
    stream.bit_rate = track.bitrate
    packets: list[Packet] = []
    if track.samples.shape[1]:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(track.samples, dtype=np.float32),
            format="fltp",
            layout=track.layout,
        )
        frame.sample_rate = track.rate
        frame.pts = 0
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return packets
