"""One document, two renderings: the blocks a report is made of (heading, paragraph, table,
bullets, image, code) and the Markdown and HTML renderers that write them.

Both files of a report are rendered from blocks that :mod:`mrft.bench.report_blocks` builds
from the same analysis, so they carry the same numbers; no Markdown-to-HTML conversion
happens anywhere. The HTML is self-contained: plots are embedded as base64 ``data:`` URIs
and all text goes through :func:`html.escape`, so the single file can be mailed or attached
to an issue. The Markdown refers to the PNGs next to it.

The HTML page is laid out for a browser window from about 800 px wide: the page itself never
scrolls sideways; a table wider than the page scrolls inside its own box with its first
column kept in view, and a table cell breaks between words but not inside an interval
``[low, high]`` or a short parenthesis.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str
    emphasis: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclasses.dataclass(frozen=True)
class Bullets:
    items: list[tuple[str, str]]
    """(term, text); an empty term gives a plain item, else ``term: text`` with the term bold."""


@dataclasses.dataclass(frozen=True)
class Image:
    filename: str
    alt: str
    caption: str
    png: bytes


@dataclasses.dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


@dataclasses.dataclass(frozen=True)
class Key:
    """The plots' colours as a line of swatches above them, for the HTML page; the Markdown
    has none, its plots carry their own legends."""

    items: list[tuple[str, str, bool]]
    """(label, CSS colour, dashed): dashed for the rows the plots draw dashed."""


Block = Heading | Paragraph | Table | Bullets | Image | Code | Key


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |",
             "|" + "|".join(" --- " for _ in table.header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(blocks: Sequence[Block]) -> str:
    parts = []
    for block in blocks:
        match block:
            case Heading(level, text):
                parts.append(f"{'#' * level} {text}")
            case Paragraph(text, emphasis):
                parts.append(f"*{text}*" if emphasis else text)
            case Table():
                parts.append(markdown_table(block))
            case Bullets(items):
                parts.append("\n".join(f"- **{term}**: {text}" if term else f"- {text}"
                                       for term, text in items))
            case Image(filename, alt, caption, _):
                parts.append(f"![{alt}]({filename})\n\n*{caption}*")
            case Code(text, language):
                fence = "```"
                while fence in text:
                    fence += "`"
                parts.append(f"{fence}{language}\n{text}\n{fence}")
            case Key():
                pass
    return "\n\n".join(parts) + "\n"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem;
       margin: 1.2rem auto 2rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.8rem; margin: 0 0 0.8rem; }
p, li, figcaption { overflow-wrap: break-word; }
li { margin: 0.25rem 0; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.92rem;
        border-top: 1px solid #ccc; border-left: 1px solid #ccc; }
th, td { border-right: 1px solid #ccc; border-bottom: 1px solid #ccc; padding: 0.3rem 0.6rem;
         text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr { background: #fff; }
tbody tr:nth-child(even) { background: #fafafa; }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; }
td:first-child { background: inherit; min-width: 8rem; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
.nw { white-space: nowrap; }
.sub { color: #666; font-size: 0.88em; }
pre { background: #f5f5f5; padding: 0.7rem; overflow-x: auto; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 0 1.5rem; align-items: flex-start; }
.figures figure { flex: 1 1 26rem; min-width: 0; margin: 0.5rem 0; }
figcaption { font-style: italic; color: #555; font-size: 0.9rem; }
.key span { display: inline-block; margin-right: 1.1rem; white-space: nowrap; }
.key i { display: inline-block; width: 1.6rem; margin-right: 0.35rem; vertical-align: middle;
         border-top: 3px solid; }
""".strip()

_UNBROKEN = re.compile(r"\[[^\[\]]{1,40}\]|\([^()]{1,30}\)")
"""An interval ``[low, high]`` or a short parenthesis such as ``(2/5 reached)``: kept on one
line in a table cell."""


def _html_cell(text: str) -> str:
    """A table cell's text, escaped, with intervals kept whole; a cell of several lines shows
    the first one as its value and the others, smaller and grey, under it."""
    escaped = _UNBROKEN.sub(lambda m: f'<span class="nw">{m.group(0)}</span>',
                            html.escape(str(text)))
    first, *rest = escaped.split("\n")
    return first + "".join(f'<br><span class="sub">{line}</span>' for line in rest)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    lines = ['<div class="table-wrap">', "<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    lines += ["<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>"
              for row in table.rows]
    lines += ["</tbody>", "</table>", "</div>"]
    return "\n".join(lines)


def render_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained page; figures that follow each other share a row where the window
    is wide enough (the adaptation and within-episode plots side by side on the first screen)."""
    esc = html.escape
    body = []
    in_row = False
    for block in blocks:
        if isinstance(block, Image) != in_row:
            body.append('<div class="figures">' if not in_row else "</div>")
            in_row = not in_row
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{esc(text)}</h{level}>")
            case Paragraph(text, emphasis):
                body.append(f"<p><em>{esc(text)}</em></p>" if emphasis else f"<p>{esc(text)}</p>")
            case Table():
                body.append(_html_table(block))
            case Bullets(items):
                lis = [f"<li><strong>{esc(term)}</strong>: {esc(text)}</li>" if term
                       else f"<li>{esc(text)}</li>" for term, text in items]
                body.append("<ul>\n" + "\n".join(lis) + "\n</ul>")
            case Image(_, alt, caption, png):
                data = base64.b64encode(png).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
                            f"<figcaption>{esc(caption)}</figcaption></figure>")
            case Code(text, _):
                body.append(f"<pre><code>{esc(text)}</code></pre>")
            case Key(items):
                swatches = "".join(
                    f'<span><i style="border-top-color: {esc(colour)}; border-top-style: '
                    f'{"dashed" if dashed else "solid"}"></i>{esc(label)}</span>'
                    for label, colour, dashed in items)
                body.append(f'<p class="key">{swatches}</p>')
    if in_row:
        body.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

