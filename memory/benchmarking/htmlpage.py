"""Self-contained HTML pages (no external assets): page shell, tables, embedded matplotlib figures."""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable, List, Optional, Sequence

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
     color:#222;background:#fff;padding:0 16px}
h1{font-size:1.6em;border-bottom:2px solid #3b6ea5;padding-bottom:6px}
h2{font-size:1.3em;margin-top:32px;color:#23486e}
h3{font-size:1.05em;margin-top:20px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}
.tablebox{overflow-x:auto;max-width:100%}
th,td{border:1px solid #ccd;padding:4px 8px;text-align:right}
th{background:#e8eef6}
td.text,th.text{text-align:left}
tr:nth-child(even) td{background:#f7f9fc}
.regression td{background:#fde2e2 !important}
.improvement td{background:#e1f5e4 !important}
.error{color:#a11}
.summary{display:flex;gap:16px;flex-wrap:wrap}
.card{border:1px solid #ccd;border-radius:6px;padding:8px 14px;background:#f4f7fb}
.card b{display:block;font-size:1.4em}
img.plot{max-width:100%;border:1px solid #dde;margin:6px 0}
.muted{color:#666;font-size:0.85em}
"""


def esc(value: Any) -> str:
    """HTML-escape str(value)."""
    return html.escape(str(value))


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


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], row_classes: Optional[Sequence[str]] = None,
          text_columns: int = 1) -> str:
    """An HTML table; the first `text_columns` columns are left-aligned text, the rest numbers."""
    head = "".join(f'<th class="text">{esc(h)}</th>' if i < text_columns else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body: List[str] = []
    for n, row in enumerate(rows):
        cls = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        cells = "".join(f'<td class="text">{esc(v)}</td>' if i < text_columns else f"<td>{esc(fmt_number(v))}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return (f'<div class="tablebox"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>")


def figure_img(fig: Any, alt: str) -> str:
    """Render a matplotlib figure as an inline base64 PNG <img> and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def cards(items: Sequence[tuple]) -> str:
    """Summary cards: [(label, value), ...]."""
    inner = "".join(f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in items)
    return f'<div class="summary">{inner}</div>'


def page(title: str, body: str) -> str:
    """A complete HTML document with the shared stylesheet."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n")
