"""Self-contained HTML pages (no external assets): page shell, tables that fit the page, inline SVG
sparklines and change bars, embedded matplotlib figures."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
     color:#222;background:#fff;padding:0 16px}
h1{font-size:1.6em;border-bottom:2px solid #3b6ea5;padding-bottom:6px;margin-bottom:10px}
h2{font-size:1.3em;margin-top:32px;color:#23486e}
h3{font-size:1.05em;margin:18px 0 4px}
section.summary h3{margin-top:12px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}
.tablebox{overflow-x:auto;max-width:100%}
th,td{border:1px solid #ccd;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#e8eef6}
td.text,th.text{text-align:left}
tr:nth-child(even) td{background:#f7f9fc}
.regression td{background:#fde2e2 !important}
.improvement td{background:#e1f5e4 !important}
.failed td{background:#fde2e2 !important}
table.glance{font-size:0.85em;margin:4px 0 8px;width:100%;table-layout:fixed}
table.glance td{padding:2px 8px;vertical-align:middle;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table.glance td:first-child,table.glance td:nth-last-child(2){white-space:normal}
table.glance tr.group td{background:#e8eef6;font-weight:600;padding-top:4px}
table.glance tr.more td{background:#fff;color:#666;white-space:normal}
.error{color:#a11}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:6px 0 4px}
.card{border:1px solid #ccd;border-radius:6px;padding:4px 12px;background:#f4f7fb;font-size:0.9em}
.card b{display:block;font-size:1.3em}
.card.bad{border-color:#c0392b;background:#fdecea}
.sub{display:block;color:#666;font-size:0.8em;white-space:nowrap}
.why{display:block;color:#666;font-size:0.8em;white-space:normal;min-width:18em;max-width:36em}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px;align-items:start}
.plots figure.wide{grid-column:1/-1}
figure{margin:0}
figcaption{color:#666;font-size:0.8em}
img.plot{max-width:100%;border:1px solid #dde;margin:6px 0 2px}
svg.spark,svg.bar{vertical-align:middle}
.muted{color:#666;font-size:0.85em}
.nowrap{white-space:nowrap}
.runhead{color:#444;font-size:0.85em;margin:2px 0 8px}
tr:target td{outline:2px solid #3b6ea5}
"""


class Html(str):
    """Markup already escaped: a table cell (or card text) that :func:`table` inserts as it is."""


class Span(Html):
    """A table row of one cell across all columns (a group's title, a note), of CSS class `css`."""

    def __new__(cls, markup: str, css: str = "span") -> "Span":
        row = super().__new__(cls, markup)
        row.css = css
        return row


def esc(value: Any) -> str:
    """HTML-escape str(value) (an :class:`Html` value is returned as it is)."""
    return value if isinstance(value, Html) else html.escape(str(value))


def breakable(value: Any) -> Html:
    """`value` escaped, with a line-break opportunity after each ``_`` ``/`` ``.`` and ``,``: long
    identifiers (``store_batch_throughput_ops_per_second``) wrap inside narrow columns."""
    return Html(re.sub(r"([_/.,])", r"\1<wbr>", esc(value)))


def anchor(*parts: Any) -> str:
    """An HTML id made of `parts` (letters, digits, ``-`` and ``_`` only): one per run, benchmark…"""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "-", str(p)).strip("-") or "x" for p in parts)


def link(href: str, text: Any) -> Html:
    """An in-page link ``<a href="#href">text</a>``."""
    return Html(f'<a href="#{esc(href)}">{esc(text)}</a>')


def fmt_number(value: Any) -> str:
    """Numbers with 4 significant digits (integers as-is); other values as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def _cell(value: Any, text: bool) -> str:
    if isinstance(value, Html):
        content = value
    else:
        content = esc(value) if text else esc(fmt_number(value))
    return f'<td class="text">{content}</td>' if text else f"<td>{content}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], row_classes: Optional[Sequence[str]] = None,
          text_columns: int = 1, row_ids: Optional[Sequence[Optional[str]]] = None,
          css_class: str = "", widths: Sequence[str] = ()) -> str:
    """An HTML table in a box that scrolls sideways when the table is wider than the page (it never
    widens the page); the first `text_columns` columns are left-aligned text, the rest numbers.
    Headers wrap at ``_``; :class:`Html` cells are inserted as they are, a :class:`Span` row as one
    cell across the columns; `row_ids`: an id per row (None: none); `widths`: CSS widths of the columns."""
    head = "".join(f'<th class="text">{breakable(h)}</th>' if i < text_columns else f"<th>{breakable(h)}</th>"
                   for i, h in enumerate(headers))
    body: List[str] = []
    for n, row in enumerate(rows):
        if isinstance(row, Span):
            body.append(f'<tr class="{esc(row.css)}"><td class="text" colspan="{len(headers)}">{row}</td></tr>')
            continue
        cls = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        ident = f' id="{esc(row_ids[n])}"' if row_ids and row_ids[n] else ""
        cells = "".join(_cell(v, i < text_columns) for i, v in enumerate(row))
        body.append(f"<tr{ident}{cls}>{cells}</tr>")
    table_class = f' class="{css_class}"' if css_class else ""
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    cols = f"<colgroup>{cols}</colgroup>" if cols else ""
    return (f'<div class="tablebox"><table{table_class}>{cols}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def figure_img(fig: Any, alt: str, caption: str = "", wide: bool = False,
               data: Optional[Dict[str, Any]] = None) -> str:
    """Render a matplotlib figure as an inline base64 PNG in a <figure> (with `caption`; `wide`: the
    whole row of a plot grid; `data`: ``data-*`` attributes describing it) and close the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    attrs = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in (data or {}).items())
    img = f'<img class="plot" alt="{esc(alt)}"{attrs} src="data:image/png;base64,{encoded}">'
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    cls = ' class="wide"' if wide else ""
    return f"<figure{cls}>{img}{cap}</figure>"


def embed_figure(fig: Any, alt: str, caption: str = "", wide: bool = False,
                 data: Optional[Dict[str, Any]] = None) -> str:
    """:func:`figure_img`, or "" with a warning when matplotlib cannot lay out or render the figure
    (a label it cannot draw): the page is written without it."""
    try:
        return figure_img(fig, alt, caption, wide=wide, data=data)
    except (ValueError, RuntimeError) as exc:
        import matplotlib.pyplot as plt
        from .documents import warn

        plt.close(fig)
        warn(f"{alt!r} left out: matplotlib could not draw it ({type(exc).__name__}: {exc})")
        return ""


def cards(items: Sequence[tuple]) -> str:
    """Summary cards: [(label, value), ...] or [(label, value, css class), ...]; Html labels as they are."""
    inner = "".join(f'<div class="card{" " + item[2] if len(item) > 2 and item[2] else ""}"><b>{esc(item[1])}</b>'
                    f"{esc(item[0])}</div>" for item in items)
    return f'<div class="cards">{inner}</div>'


# ---- inline SVG -------------------------------------------------------------------------------

STATUS_COLORS = {"regression": "#c0392b", "improvement": "#27ae60", "unconfirmed": "#e67e22"}
NEUTRAL = "#95a5a6"


def sparkline(values: Sequence[float], title: str, width: int = 100, height: int = 22,
              last_color: str = "#3b6ea5") -> Html:
    """A tiny line of `values` (oldest first) as inline SVG, the last point a dot; `title` as tooltip."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Html("")
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    step = (width - 6) / max(1, len(values) - 1)
    points = [(3 + i * step, height - 3 - (height - 6) * ((v - low) / span if high > low else 0.5))
              for i, v in enumerate(values) if math.isfinite(v)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    x_end, y_end = points[-1]
    return Html(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
                f"<title>{esc(title)}</title>"
                f'<polyline fill="none" stroke="#7f8c8d" stroke-width="1.3" points="{line}"/>'
                f'<circle cx="{x_end:.1f}" cy="{y_end:.1f}" r="2.6" fill="{last_color}"/></svg>')


def change_bar(goodness_percent: float, color: str, title: str, threshold_percent: float = 10.0,
               limit: float = 50.0, width: int = 120, height: int = 14) -> Html:
    """A small diverging bar: left of the centre line = worse, right = better, by `goodness_percent`
    (clamped at ± `limit`); dashed marks at ± the threshold; `title` as tooltip."""
    middle = width / 2
    scale = (middle - 2) / limit
    shown = max(-limit, min(limit, goodness_percent)) if math.isfinite(goodness_percent) else 0.0
    marks = "".join(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#999" '
                    f'stroke-dasharray="2,2" stroke-width="0.8"/>'
                    for x in (middle - threshold_percent * scale, middle + threshold_percent * scale)
                    if 0 < threshold_percent < limit)
    return Html(f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
                f"<title>{esc(title)}</title>"
                f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f2f4f7"/>{marks}'
                f'<rect x="{min(middle, middle + shown * scale):.1f}" y="2" width="{abs(shown) * scale:.1f}" '
                f'height="{height - 4}" fill="{color}"/>'
                f'<line x1="{middle}" y1="0" x2="{middle}" y2="{height}" stroke="#333" stroke-width="1"/></svg>')


def page(title: str, body: str) -> str:
    """A complete HTML document with the shared stylesheet."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n")
