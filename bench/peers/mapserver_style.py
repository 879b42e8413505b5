"""Translate our parcel stylesheet (tiles/styles/parcels.xml, Mapnik XML) into MapServer CLASS
blocks, so that MapServer draws what we draw: fill by land use, zoom-dependent outlines, dashed
outlines by status, numbers at high zoom (placed by MapServer in each polygon; ours come from a second query,
tiles/styles/sources.py's parcel_labels). Only the constructs that file uses are understood
(one ``[field] = 'value'`` filter per rule, minzoom/maxzoom); anything else is refused."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET  # noqa: S405 - our own stylesheet
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BENCH_DIR

STYLESHEET = BENCH_DIR.parent / "tiles" / "styles" / "parcels.xml"
FILTER = re.compile(r"^\s*\[(\w+)\]\s*=\s*'([^']*)'\s*$")
STATUSES = ("registered", "under_survey", "disputed")


@dataclass(frozen=True)
class Rule:
    condition: tuple[str, str] | None  # (field, value)
    minzoom: int | None
    maxzoom: int | None
    symbolizer: ET.Element


def _rules(path: Path, style_name: str) -> list[Rule]:
    root = ET.parse(path).getroot()  # noqa: S314 - our own stylesheet
    style = next((s for s in root.iter("Style") if s.get("name") == style_name), None)
    if style is None:
        raise ValueError(f"{path.name}: no style '{style_name}'")
    rules = []
    for rule in style.iter("Rule"):
        condition = None
        if (text := rule.findtext("Filter")) is not None:
            match = FILTER.match(text)
            if not match:
                raise ValueError(f"{path.name}: filter {text!r} is not a single equality")
            condition = (match[1], match[2])
        symbolizers = [child for child in rule if child.tag.endswith("Symbolizer")]
        if len(symbolizers) != 1:
            raise ValueError(f"{path.name}: a rule of {style_name} has {len(symbolizers)} symbolizers")
        zooms = [int(z) if (z := rule.get(k)) is not None else None for k in ("minzoom", "maxzoom")]
        rules.append(Rule(condition, *zooms, symbolizers[0]))
    return rules


def _scales(rule: Rule, scale: Callable[[float], float]) -> str:
    """Rule zooms (inclusive) → MapServer's [MINSCALEDENOM, MAXSCALEDENOM) half a zoom away."""
    parts = []
    if rule.maxzoom is not None:
        parts.append(f"MINSCALEDENOM {scale(rule.maxzoom + 0.5):.1f}")
    if rule.minzoom is not None:
        parts.append(f"MAXSCALEDENOM {scale(rule.minzoom - 0.5):.1f}")
    return " ".join(parts)


def _opacity(symbolizer: ET.Element, attribute: str) -> int:
    return round(float(symbolizer.get(attribute, "1")) * 100)


def _outline(rule: Rule, scale: Callable[[float], float]) -> str:
    line = rule.symbolizer
    pattern = ""
    if dashes := line.get("stroke-dasharray"):
        pattern = f" PATTERN {dashes.replace(',', ' ')} END LINECAP BUTT"
    # Mapnik's offset="-1" (one pixel inwards) has no polygon-outline twin in MapServer: left out.
    return (
        f'      STYLE OUTLINECOLOR "{line.get("stroke")}" WIDTH {line.get("stroke-width", "1")} '
        f"OPACITY {_opacity(line, 'stroke-opacity')}{pattern} {_scales(rule, scale)} END\n"
    )


def _label(rule: Rule, scale: Callable[[float], float]) -> str:
    text = rule.symbolizer
    return (
        f'      LABEL FONT "{text.get("fontset-name", "sans")}" TYPE TRUETYPE SIZE {text.get("size", "10")}\n'
        f'        COLOR "{text.get("fill", "#000000")}" OUTLINECOLOR "{text.get("halo-fill", "#ffffff")}"'
        f" OUTLINEWIDTH {max(1, round(float(text.get('halo-radius', '1'))))}\n"
        f"        POSITION CC PARTIALS FALSE {_scales(rule, scale)}\n"
        "      END\n"
    )


def _applies(rule: Rule, values: dict[str, str]) -> bool:
    return rule.condition is None or values.get(rule.condition[0]) == rule.condition[1]


def mapserver_classes(scale: Callable[[float], float], path: Path = STYLESHEET) -> tuple[str, list[str]]:
    """Return the CLASS blocks for the parcel layer and the attribute columns they read.

    One class per (land use, status): MapServer draws a feature with its first matching class,
    where Mapnik applies every matching rule of every style.
    """
    fills = _rules(path, "parcels-fill")
    outlines = _rules(path, "parcels-outline")
    labels = _rules(path, "parcels-number")
    land_uses = [rule.condition[1] for rule in fills if rule.condition and rule.condition[0] == "land_use"]
    blocks = []
    for land_use, status in itertools.product([*land_uses, None], [*STATUSES, None]):
        values = {key: value for key, value in (("land_use", land_use), ("status", status)) if value}
        tests = [f'("[{key}]" = "{value}")' for key, value in values.items()]
        expression = f"      EXPRESSION ({' AND '.join(tests)})\n" if tests else ""
        styles = [
            f'      STYLE COLOR "{r.symbolizer.get("fill")}" OPACITY {_opacity(r.symbolizer, "fill-opacity")} END\n'
            for r in fills
            if _applies(r, values) and r.condition is not None
        ]
        styles += [_outline(r, scale) for r in outlines if _applies(r, values)]
        blocks.append(
            "    CLASS\n" + expression + "".join(styles) + "".join(_label(r, scale) for r in labels) + "    END\n"
        )
    return "".join(blocks), ["number", "land_use", "status"]
