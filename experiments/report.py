"""Markdown documents whose tables are ``dgep summary`` output of the results they name.

A block of a document::

    <!-- dgep summary d20 d30 | f_deep - f_glm per d (nats per sample) -->
    ...
    <!-- end dgep summary -->

holds the section of that title of ``dgep summary d20 d30 --markdown`` run in the document's
folder: the lines under its ``### `` heading, up to the next one (the title ``all`` holds the
whole summary, headings included). ``fill_document`` rewrites every block from the results as
they are now, so a document whose blocks are unchanged by it shows its data's current tables
(``dgep fill --check``; the tests check the committed ones so)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

BEGIN = re.compile(r"^<!-- dgep summary (?P<sources>[^|]+)\|(?P<title>.+?) -->$")
END = "<!-- end dgep summary -->"
WHOLE = "all"


def summary_sections(text: str) -> dict[str, str]:
    """The sections of a Markdown summary by their ``### `` headings' titles: each the lines
    under its heading up to the next heading, trailing blank lines dropped; ``WHOLE`` is the
    whole text."""
    sections, title, body = {WHOLE: text.rstrip("\n")}, None, []
    for line in [*text.splitlines(), "### "]:
        if line.startswith("### "):
            if title is not None:
                sections[title] = "\n".join(body).rstrip("\n")
            title, body = line[4:], []
        else:
            body.append(line)
    return sections


def summary_blocks(text: str) -> list[tuple[int, int, tuple[str, ...], str]]:
    """The blocks of a document outside fenced code (an example of one is not a block): per
    block the 0-based indices of its first and end lines, its results and its section title.
    A block without its end raises ValueError naming its line."""
    lines, blocks, fenced = text.splitlines(), [], False
    for i, line in enumerate(lines):
        fenced ^= line.strip().startswith("```")
        match = None if fenced else BEGIN.match(line.strip())
        if match is None:
            continue
        end = next((k for k in range(i + 1, len(lines)) if lines[k].strip() == END), None)
        if end is None:
            raise ValueError(f"{i + 1}: a summary block without `{END}`")
        blocks.append((i, end, tuple(match["sources"].split()), match["title"].strip()))
    return blocks


def fill_text(text: str, summary_of: Callable[[tuple[str, ...]], str], name: str = "") -> str:
    """``text`` with each block's lines replaced by the section it names of
    ``summary_of(sources)`` (the Markdown summary of those results). A block without its end,
    naming results ``summary_of`` cannot read (OSError, ValueError) or naming a section the
    summary lacks raises ValueError naming ``name`` and the line."""
    try:
        blocks = summary_blocks(text)
    except ValueError as err:
        raise ValueError(f"{name}:{err}") from None
    lines, out, done = text.splitlines(), [], 0
    for begin, end, sources, title in blocks:
        try:
            sections = summary_sections(summary_of(sources))
        except (OSError, ValueError) as err:  # results that cannot be read: the block names them
            raise ValueError(f"{name}:{begin + 1}: {err}") from None
        if title not in sections:
            raise ValueError(
                f"{name}:{begin + 1}: no section {title!r} in the summary of {' '.join(sources)} "
                f"(it has: {', '.join(repr(t) for t in sections)})"
            )
        out += [*lines[done : begin + 1], sections[title]]
        done = end
    out += lines[done:]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def fill_document(path: Path) -> tuple[str, str]:
    """``path``'s text and that text with its blocks filled from the results they name
    (relative to ``path``'s folder), each set of results summarised once."""
    from .results import combine_sizes, open_results
    from .summary import summary_text

    cache: dict[tuple[str, ...], str] = {}

    def summary_of(sources: tuple[str, ...]) -> str:
        if sources not in cache:
            runs = [open_results(path.parent / source) for source in sources]
            ds = combine_sizes(runs) if len(runs) > 1 else runs[0]
            cache[sources] = summary_text(ds, markdown=True)
        return cache[sources]

    text = path.read_text()
    return text, fill_text(text, summary_of, name=str(path))
