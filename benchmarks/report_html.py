"""The self-contained ``report.html``: a report's markdown as one HTML page, its figures embedded.

``benchmarks.report.write_report`` writes ``report.md`` and passes its text here. ``markdown_to_html``
understands only the subset of markdown that the report writes: ``#`` headings, paragraphs, ``- `` lists,
pipe tables (a column whose separator ends in ``:`` is right-aligned), images on a line of their own, and
inline code, bold, italics and links. An image that names a file next to the report is embedded as a
base64 ``data:image/png`` URI, so the page needs nothing beside it; one that names no such file keeps
that name as its ``src``.
"""

from __future__ import annotations

import base64
import html
import pathlib
import re


def _inline_html(text: str) -> str:
    """One line of markdown text, HTML-escaped, with its inline code, bold, links and italics as tags."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", text)


def _table_cells(line: str) -> list[str]:
    """The cells of a pipe-table row, stripped, with escaped pipes (``\\|``) restored."""
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_to_html(markdown: str, run_dir: pathlib.Path, title: str = "report") -> str:
    """The report's markdown (headings, paragraphs, lists, pipe tables, images) as one HTML page with the
    images embedded as base64 data URIs. Only the subset ``benchmarks.report`` writes is understood."""
    out, para, lines = [], [], markdown.splitlines()

    def flush():
        if para:
            out.append("<p>" + _inline_html(" ".join(para)) + "</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        image = re.fullmatch(r"!\[(.*)\]\((.+)\)", line.strip())
        if not line.strip():
            flush()
        elif m := re.match(r"(#{1,6}) (.*)", line):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline_html(m.group(2))}</h{level}>")
        elif image:
            flush()
            file = run_dir / image.group(2)
            src = (f"data:image/png;base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"
                   if file.is_file() else html.escape(image.group(2)))
            out.append(f'<p><img src="{src}" alt="{html.escape(image.group(1))}"></p>')
        elif line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(\s*-+:?\s*\|)+", lines[i + 1]):
            flush()
            right = [c.endswith(":") for c in _table_cells(lines[i + 1])]
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in _table_cells(line))
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _table_cells(lines[i])
                rows.append("<tr>" + "".join(
                    f'<td{" class=num" if j < len(right) and right[j] else ""}>{_inline_html(c)}</td>'
                    for j, c in enumerate(cells)) + "</tr>")
                i += 1
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            continue
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline_html(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            para.append(line.strip())
        i += 1
    flush()
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
             "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}td.num{text-align:right}"
             "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(out) + "\n</body></html>\n")
