"""Planning: refusals that name the allowed values, snapping, reference fitting."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sorakit.catalog import build_catalog
from sorakit.engine.planning import nearest_size, plan_generate
from sorakit.errors import InvalidRequestError, NotFoundError, ReferenceImageError
from sorakit.settings import Settings


@pytest.fixture
def catalog(settings: Settings):  # type: ignore[no-untyped-def]
    return build_catalog(settings)


def png(size: tuple[int, int], color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_defaults_and_price(catalog) -> None:  # type: ignore[no-untyped-def]
    plan = plan_generate(catalog.resolve("sora-2"), "a cat")
    assert (plan.seconds, plan.size, plan.changes) == (4, "720x1280", [])
    assert plan.estimated_cost == pytest.approx(0.4)
    pro = plan_generate(catalog.resolve("sora-2-pro"), "a cat", seconds="8", size="1792x1024")
    assert pro.estimated_cost == pytest.approx(4.0)
    hd = plan_generate(catalog.resolve("sora-2-pro"), "x", size="1920x1080")
    assert hd.estimated_cost == pytest.approx(2.0)  # $0.50/s at 1080p


def test_refusals_name_the_allowed_values(catalog) -> None:  # type: ignore[no-untyped-def]
    entry = catalog.resolve("sora-2")
    with pytest.raises(InvalidRequestError, match="'4', '8', '12', '16', or '20'") as caught:
        plan_generate(entry, "a cat", seconds=5)
    assert caught.value.param == "seconds" and caught.value.allowed == ("4", "8", "12", "16", "20")
    with pytest.raises(InvalidRequestError, match="'720x1280' or '1280x720'"):
        plan_generate(entry, "a cat", size="1792x1024")
    with pytest.raises(InvalidRequestError, match="non-empty"):
        plan_generate(entry, "  ")
    with pytest.raises(InvalidRequestError, match="32000"):
        plan_generate(entry, "x" * 32001)
    with pytest.raises(NotFoundError, match="'sora-3' does not exist. Known models: .*sora-2-pro"):
        catalog.resolve("sora-3")


def test_snapping_says_what_changed(catalog) -> None:  # type: ignore[no-untyped-def]
    plan = plan_generate(catalog.resolve("sora-2"), "a cat", seconds=5, size="1920x1080", snap=True)
    assert (plan.seconds, plan.size) == (8, "1280x720")
    assert plan.changes == [
        "seconds 5 -> 8 (sora-2 allows '4', '8', '12', '16', or '20')",
        "size 1920x1080 -> 1280x720 (sora-2 allows 720x1280, 1280x720)",
    ]
    assert plan_generate(catalog.resolve("sora-2"), "x", seconds=30, snap=True).seconds == 20


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("16:9", "1280x720"),
        ("9:16", "720x1280"),
        ("portrait", "720x1280"),
        ("landscape", "1280x720"),
        ("1024x1792", "720x1280"),
        ("1:1", "720x1280"),
    ],
)
def test_nearest_size_keeps_orientation(target: str, expected: str) -> None:
    assert nearest_size(target, ("720x1280", "1280x720")) == expected


def test_nearest_size_among_pro_sizes() -> None:
    sizes = ("720x1280", "1280x720", "1024x1792", "1792x1024", "1080x1920", "1920x1080")
    assert nearest_size("1800x1030", sizes) == "1792x1024"
    assert nearest_size("1900x1070", sizes) == "1920x1080"
    assert nearest_size("banana", sizes) is None


def test_reference_is_fitted_or_refused(catalog) -> None:  # type: ignore[no-untyped-def]
    entry = catalog.resolve("sora-2")
    exact = plan_generate(entry, "a cat", size="1280x720", reference=png((1280, 720)), fit=None)
    assert exact.reference is not None and exact.reference.width == 1280
    with pytest.raises(ReferenceImageError, match="Inpaint image must match"):
        plan_generate(entry, "a cat", size="1280x720", reference=png((640, 640)), fit=None)
    fitted = plan_generate(entry, "a cat", size="1280x720", reference=png((640, 640)), fit="crop")
    assert fitted.reference is not None
    assert Image.open(io.BytesIO(fitted.reference.data)).size == (1280, 720)
    assert fitted.changes == ["reference image -> 1280x720 (crop)"]
    data_url = "data:image/png;base64," + base64.b64encode(png((720, 1280))).decode()
    assert plan_generate(entry, "a cat", reference=data_url, fit=None).reference is not None


def test_bad_references_are_clear_errors(catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    entry = catalog.resolve("sora-2")
    with pytest.raises(ReferenceImageError):
        plan_generate(entry, "a cat", reference=b"not an image at all")
    with pytest.raises(ReferenceImageError, match="No such reference"):
        plan_generate(entry, "a cat", reference=tmp_path / "missing.png")
    with pytest.raises(ReferenceImageError, match="not fetched"):
        plan_generate(entry, "a cat", reference="https://example.com/cat.png")
