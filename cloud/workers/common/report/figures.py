"""The analysis charts as files for a paper: SVG and PNG from the same Vega-Lite specs the page draws.

vl-convert renders them offline with its bundled Vega (no browser, no network).
"""

from __future__ import annotations

from pathlib import Path

from common.report.data import Chart

PNG_SCALE = 2  # print resolution: twice the on-screen size
NO_URLS: list[str] = []  # the data is inline: vl-convert may load nothing


def write_figures(charts: list[Chart], directory: Path) -> list[Path]:
    import vl_convert

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for chart in charts:
        spec = chart.spec | {"title": chart.title}  # a file stands alone: it carries its title
        svg = directory / f"{chart.name}.svg"
        svg.write_text(vl_convert.vegalite_to_svg(spec, allowed_base_urls=NO_URLS), encoding="utf-8")
        png = directory / f"{chart.name}.png"
        png.write_bytes(vl_convert.vegalite_to_png(spec, scale=PNG_SCALE, allowed_base_urls=NO_URLS))
        written += [svg, png]
    return written
