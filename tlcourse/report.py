"""The course report: one HTML page with every recorded number and the figures of each notebook.

``python -m tlcourse run --out OUT`` writes it to ``OUT/report.html``; teachers can hand it out
as "the numbers this course produced on this machine".
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .files import replace_atomically


def flatten(results: dict, prefix: str = "") -> list[tuple[str, str]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", "1")]``; lists are shown whole."""
    rows = []
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, name + "."))
        else:
            rows.append((name, _shown(value)))
    return rows


def _shown(value) -> str:
    """A recorded value as the report shows it: floats to four significant digits (0.8765, 3e-05), large ones
    whole (12346). Only the display is rounded; results.json keeps every number as recorded."""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return json.dumps(value)


def _figures(notebook) -> list[str]:
    """The PNG figures a notebook's outputs hold, as base64 strings."""
    images = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                images.append(png if isinstance(png, str) else "".join(png))
    return images


def write_report(collected: dict, notebooks: dict, path: str | Path) -> Path:
    """Write the report. ``collected``: name -> {ok, seconds, profile, results}; ``notebooks``: name -> node."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>tlcourse report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{border:1px solid #ccc;"
             "padding:2px 6px;font-size:13px;vertical-align:top}table{border-collapse:collapse}"
             "img{max-width:48%;margin:4px;border:1px solid #eee}</style></head><body>",
             "<h1>tlcourse: course report</h1>",
             "<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>profile</th><th>numbers</th></tr>"]
    for name, info in collected.items():
        parts.append(f"<tr><td><a href='#{html.escape(name)}'>{html.escape(name)}</a></td>"
                     f"<td>{'ok' if info['ok'] else 'FAILED'}</td>"
                     f"<td>{info['seconds']}</td><td>{info['profile']}</td><td>{len(flatten(info['results']))}</td></tr>")
    parts.append("</table>")
    for name, info in collected.items():
        parts.append(f"<h2 id='{html.escape(name)}'>{html.escape(name)}</h2>")
        if info.get("error"):  # why it failed, next to what it recorded before
            parts.append(f"<p>FAILED: {html.escape(info['error'])}</p>")
        parts.append("<table><tr><th>recorded</th><th>value</th></tr>")
        for key, value in flatten(info["results"]):
            parts.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(value)}</td></tr>")
        parts.append("</table><div>")
        for png in _figures(notebooks[name]) if notebooks.get(name) is not None else []:
            parts.append(f"<img src='data:image/png;base64,{png.strip()}'>")
        parts.append("</div>")
    parts.append("</body></html>")
    path = Path(path)
    replace_atomically(path, lambda tmp: tmp.write_text("\n".join(parts), encoding="utf-8"))
    return path
