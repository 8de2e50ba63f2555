"""SVG / HTML / CSV labels: parseable, escaped, rounded for people, exact for machines."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import segno

from ledger.errors import InputError
from ledger.footprint import STAGES, Factor, ProductFootprint
from ledger.labels.render import (
    csv_header,
    csv_row,
    human_number,
    period_text,
    qr_payload_for,
    to_html,
    to_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
DIGEST = "0123456789abcdef" * 4
NASTY_NAME = 'Oat <drink> & "Barista"'


@pytest.fixture
def footprint() -> ProductFootprint:
    factor = Factor(
        "F1", 1, "electricity", "production", "kWh", Decimal("0.233"), "AR6", "DEFRA", 2024, "GB"
    )
    return ProductFootprint(
        product_id="P-100",
        product_name=NASTY_NAME,
        owner_supplier_id="S1",
        owner_supplier_name="Oat Farms Ltd",
        declared_unit="piece",
        mass_kg=Decimal("1.05"),
        category=None,
        period_start=date(2025, 1, 1),
        period_end=date(2026, 1, 1),
        kgco2e_per_unit=Decimal("0.7345678"),
        kgco2e_per_kg=Decimal("0.699588380952"),
        by_stage={
            "production": Decimal("0.5123"),
            "warehousing": Decimal("0.0222678"),
            "transport": None,
            "packaging": Decimal("0.2000"),
        },
        primary_data_share=Decimal("62.55"),
        record_count=42,
        suppliers=("S1",),
        factors=(factor,),
    )


@pytest.fixture
def payload(footprint: ProductFootprint) -> str:
    return qr_payload_for(footprint, qr_url_template=None, evidence_digest=DIGEST)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_svg_parses_and_shows_the_rounded_figure(footprint: ProductFootprint, payload: str) -> None:
    root = ET.fromstring(to_svg(footprint, qr_payload=payload))
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("400", "560")
    texts = _texts(root)
    assert "Carbon footprint" in texts
    assert "0.735" in texts
    assert "kg CO\u2082e per piece" in texts
    assert "0.700 kg CO\u2082e per kg of product" in texts
    assert "2025-01-01 \u2013 2025-12-31" in texts
    assert "62.6 %" in texts and "42" in texts and "IPCC AR6" in texts
    assert not root.findall(f".//{SVG}image")


def test_one_bar_per_stage_and_no_data(footprint: ProductFootprint, payload: str) -> None:
    root = ET.fromstring(to_svg(footprint, qr_payload=payload))
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "stage"]
    assert [g.get("data-stage") for g in groups] == list(STAGES)
    widths = {}
    for group in groups:
        stage = group.get("data-stage")
        bars = [r for r in group.iter(f"{SVG}rect") if r.get("class") == "bar"]
        if stage == "transport":
            assert bars == []
            assert "no data" in _texts(group)
        else:
            (bar,) = bars
            widths[stage] = float(bar.get("width", "0"))
    assert widths["production"] == 352.0
    assert widths["packaging"] == pytest.approx(352 * 0.2 / 0.5123, abs=0.1)
    assert 0 < widths["warehousing"] < widths["packaging"]


def test_svg_escapes_text(footprint: ProductFootprint, payload: str) -> None:
    svg = to_svg(footprint, qr_payload=payload)
    assert NASTY_NAME not in svg
    assert "Oat &lt;drink&gt; &amp; &quot;Barista&quot;" in svg
    root = ET.fromstring(svg)
    assert NASTY_NAME in _texts(root)
    assert root.findtext(f"{SVG}title") == f"Carbon footprint of {NASTY_NAME}"
    evil = replace(footprint, product_name="a\x00b\x1bc]]></text><script>x</script>")
    assert not list(ET.fromstring(to_svg(evil, qr_payload=payload)).iter(f"{SVG}script"))


def _embedded_matrix(svg: str) -> list[list[int]]:
    root = ET.fromstring(svg)
    group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "qr")
    size = int(group.get("data-modules", "0"))
    path = next(p for p in group.iter(f"{SVG}path") if p.get("id") == "qr-modules")
    assert path.get("transform") == "translate(4 4)"
    matrix = [[0] * size for _ in range(size)]
    d = path.get("d", "")
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d)
    assert "".join(f"M{x} {y}h{n}v1h-{m}z" for x, y, n, m in runs) == d
    for x, y, n, m in runs:
        assert n == m
        for col in range(int(x), int(x) + int(n)):
            matrix[int(y)][col] = 1
    return matrix


@pytest.mark.parametrize(
    "qr_text",
    [None, "https://labels.example.com/p/{product_id}?v=1"],
)
def test_qr_matches_segno_matrix(footprint: ProductFootprint, qr_text: str | None) -> None:
    """No pure-Python QR decoder is installed: compare the drawn modules with segno's matrix."""
    payload = qr_payload_for(footprint, qr_url_template=qr_text, evidence_digest=DIGEST)
    expected = [
        [cell & 1 for cell in row] for row in segno.make(payload, error="m", micro=False).matrix
    ]
    assert _embedded_matrix(to_svg(footprint, qr_payload=payload)) == expected


def test_svg_is_deterministic(footprint: ProductFootprint, payload: str) -> None:
    assert to_svg(footprint, qr_payload=payload) == to_svg(footprint, qr_payload=payload)
    with pytest.raises(InputError):
        to_svg(footprint, qr_payload="")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0.7345678", "0.735"),
        ("0.0005", "0.001"),
        ("0.00049", "0.000"),
        ("-0.0001", "0.000"),
        ("12.5", "12.500"),
        ("999.9994", "999.999"),
        ("999.9996", "1,000"),
        ("1234.5", "1,235"),
        ("1234567.891", "1,234,568"),
        ("1E+3", "1,000"),
        ("-2.0004", "-2.000"),
    ],
)
def test_human_number(value: str, shown: str) -> None:
    assert human_number(Decimal(value)) == shown


def test_period_end_is_shown_inclusive(footprint: ProductFootprint) -> None:
    fp = replace(footprint, period_start=date(2024, 2, 1), period_end=date(2024, 3, 1))
    assert period_text(fp) == "2024-02-01 \u2013 2024-02-29"


def test_qr_payload_without_template(footprint: ProductFootprint, payload: str) -> None:
    assert payload == "CL1:P-100:2025-01-01:2026-01-01:0.7345678:0123456789abcdef"


def test_qr_payload_template_quotes_product_id(footprint: ProductFootprint) -> None:
    fp = replace(footprint, product_id="P 1/2")
    url = qr_payload_for(
        fp, qr_url_template="https://x.test/l/{product_id}", evidence_digest=DIGEST
    )
    assert url == "https://x.test/l/P%201%2F2"


@pytest.mark.parametrize(
    "template",
    [
        "https://x.test/{sku}",
        "https://x.test/{}",
        "https://x.test/{0}",
        "https://x.test/{product_id.__class__}",
        "https://x.test/{product_id[0]}",
        "https://x.test/{product_id",
        "https://x.test/static",
    ],
)
def test_qr_template_errors(footprint: ProductFootprint, template: str) -> None:
    with pytest.raises(InputError):
        qr_payload_for(footprint, qr_url_template=template, evidence_digest=DIGEST)


def test_qr_payload_needs_a_digest(footprint: ProductFootprint) -> None:
    with pytest.raises(InputError, match="evidence_digest"):
        qr_payload_for(footprint, qr_url_template=None, evidence_digest="abc")


def test_csv_row_has_exact_decimals(footprint: ProductFootprint) -> None:
    header = csv_header()
    assert header == [
        "product_id",
        "product_name",
        "owner_supplier_id",
        "declared_unit",
        "mass_kg",
        "period_start",
        "period_end",
        "kgco2e_per_unit",
        "kgco2e_per_kg",
        "production",
        "warehousing",
        "transport",
        "packaging",
        "primary_data_share",
        "record_count",
        "gwp",
        "evidence_sha256",
    ]
    row = dict(zip(header, csv_row(footprint, evidence_digest=DIGEST), strict=True))
    assert row == {
        "product_id": "P-100",
        "product_name": NASTY_NAME,
        "owner_supplier_id": "S1",
        "declared_unit": "piece",
        "mass_kg": "1.05",
        "period_start": "2025-01-01",
        "period_end": "2026-01-01",
        "kgco2e_per_unit": "0.7345678",
        "kgco2e_per_kg": "0.699588380952",
        "production": "0.5123",
        "warehousing": "0.0222678",
        "transport": "",
        "packaging": "0.2000",
        "primary_data_share": "62.55",
        "record_count": "42",
        "gwp": "AR6",
        "evidence_sha256": DIGEST,
    }
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, csv_row(footprint, evidence_digest=None)])
    parsed = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert parsed[1][1] == NASTY_NAME and parsed[1][-1] == ""
    tiny = replace(footprint, kgco2e_per_unit=Decimal("1E-9"))
    assert csv_row(tiny, evidence_digest=None)[7] == "0.000000001"
    with pytest.raises(InputError):
        csv_row(footprint, evidence_digest="XYZ")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        self._in_td = tag == "td"

    def handle_endtag(self, tag: str) -> None:
        self._in_td = False if tag == "td" else self._in_td

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.cells.append(data)


def test_html_is_standalone_with_accessible_table(
    footprint: ProductFootprint, payload: str
) -> None:
    html = to_html(footprint, qr_payload=payload, evidence_digest=DIGEST)
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert to_svg(footprint, qr_payload=payload).strip() in html
    assert NASTY_NAME not in html
    parser = _Collector()
    parser.feed(html)
    assert {"table", "caption", "th", "svg", "style"} <= set(parser.tags)
    assert "link" not in parser.tags and "script" not in parser.tags and "img" not in parser.tags
    assert parser.urls == []
    for exact in ("0.7345678", "0.699588380952", "0.5123", "0.0222678", "0.2000", "62.55", DIGEST):
        assert exact in parser.cells
    assert "no data" in parser.cells and "missing" in parser.cells
    titled = to_html(footprint, qr_payload=payload, title="Label <1>")
    assert "<title>Label &lt;1&gt;</title>" in titled


def test_long_product_name_wraps_instead_of_being_cut(footprint: ProductFootprint) -> None:
    """Cut after "500 ml", "x 12" would vanish and "per piece" would read as per bottle."""
    long_name = "Qinghe Natural Mineral Water 500 ml x 12"
    svg = to_svg(replace(footprint, product_name=long_name), qr_payload="x")
    assert '<text x="24" y="84" class="name">Qinghe Natural Mineral Water 500</text>' in svg
    assert '<text x="24" y="104" class="name">ml x 12</text>' in svg
    assert '<text x="24" y="124" class="muted small">ID P-100</text>' in svg
    short = to_svg(replace(footprint, product_name="Oat drink"), qr_payload="x")
    assert '<text x="24" y="92" class="name">Oat drink</text>' in short


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_text_cells_are_never_formulas(footprint: ProductFootprint, lead: str) -> None:
    """A product name like `=HYPERLINK(...)` reaches a catalogue spreadsheet as text."""
    name = lead + 'HYPERLINK("https://evil.example","x")'
    row = csv_row(
        replace(footprint, product_name=name, product_id=lead + "1"), evidence_digest=None
    )
    assert (row[0], row[1]) == ("'" + lead + "1", "'" + name)
    assert row[4] == "1.05" and row[7] == "0.7345678"  # numbers stay numbers
