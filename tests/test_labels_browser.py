"""The HTML label in a real headless Chromium: it renders, and renders something visible.

A parse check cannot tell whether a browser actually paints the inline SVG and CSS; a
screenshot can. The PNG is decoded here with zlib (no Pillow) and must show more than a
blank page: many colours and some dark ink (text, QR modules).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.footprint import Factor, ProductFootprint
from ledger.labels.render import qr_payload_for, to_html

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=800,1000",
)


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.skip("no chromium binary (install Debian's `chromium` package to run this test)")
    return found


@pytest.fixture
def footprint() -> ProductFootprint:
    factor = Factor(
        "F1", 1, "electricity", "production", "kWh", Decimal("0.233"), "AR6", "DEFRA", 2024, "GB"
    )
    return ProductFootprint(
        product_id="P-100",
        product_name="Oat drink <Barista> 1 L",
        owner_supplier_id="S1",
        owner_supplier_name="Oat Farms Ltd",
        declared_unit="piece",
        mass_kg=Decimal("1.05"),
        category=None,
        period_start=date(2025, 1, 1),
        period_end=date(2026, 1, 1),
        kgco2e_per_unit=Decimal("1234.5678"),
        kgco2e_per_kg=Decimal("1175.778857142857"),
        by_stage={
            "production": Decimal("1000.5"),
            "warehousing": Decimal("34.0678"),
            "transport": None,
            "packaging": Decimal("200"),
        },
        primary_data_share=Decimal("62.55"),
        record_count=42,
        suppliers=("S1",),
        factors=(factor,),
    )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG into (width, height, pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for row in range(height):
        start = row * (stride + 1)
        filter_type, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
        pixels += [tuple(line[i : i + 3]) for i in range(0, stride, channels)]
        previous = line
    return width, height, pixels


def test_html_label_renders_in_chromium(
    chromium: str, footprint: ProductFootprint, tmp_path: Path
) -> None:
    payload = qr_payload_for(footprint, qr_url_template=None, evidence_digest="ab" * 32)
    page = tmp_path / "label.html"
    page.write_text(to_html(footprint, qr_payload=payload), encoding="utf-8")
    shot = tmp_path / "label.png"
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert shot.exists(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (800, 1000)
    colours = set(pixels)
    dark = sum(1 for r, g, b in pixels if r + g + b < 150)
    assert len(colours) > 10
    assert dark > 2000, f"only {dark} dark pixels"
    green = sum(1 for r, g, b in pixels if (r, g, b) == (0x16, 0x65, 0x34))
    assert green > 5000, "the label's green header did not paint"
