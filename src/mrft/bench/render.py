"""One document, two renderings: the blocks a report is made of (heading, paragraph, table,
bullets, image, code) and the Markdown and HTML renderers that write them.

Both files of a report come from **one** list of blocks, so they always carry the same
content in the same order; no Markdown-to-HTML conversion happens anywhere. The HTML is
self-contained: plots are embedded as base64 ``data:`` URIs and all text goes through
:func:`html.escape`, so the single file can be mailed or attached to an issue. The
Markdown refers to the PNGs next to it.
"""

from __future__ import annotations

import base64
import dataclasses
import html
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


Block = Heading | Paragraph | Table | Bullets | Image | Code


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
    return "\n\n".join(parts) + "\n"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
td:not(:first-child) { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace;
                       font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f5f5f5; padding: 0.7rem; overflow-x: auto; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: #555; font-size: 0.9rem; }
""".strip()


def render_html(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    body = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{esc(text)}</h{level}>")
            case Paragraph(text, emphasis):
                body.append(f"<p><em>{esc(text)}</em></p>" if emphasis else f"<p>{esc(text)}</p>")
            case Table(header, rows):
                head = "".join(f"<th>{esc(h)}</th>" for h in header)
                lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
                lines += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                          for row in rows]
                lines += ["</tbody>", "</table>"]
                body.append("\n".join(lines))
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
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

