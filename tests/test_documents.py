"""The committed documents show their data: every ``<!-- dgep summary ... -->`` block of a
Markdown file of the repository is what ``dgep fill`` writes from the committed results it names
(experiments/report.py), so a table cannot go stale when the results change."""

from pathlib import Path

import pytest

from experiments.report import fill_document, summary_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    path.relative_to(ROOT)
    for path in [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("data/**/*.md")]
    if summary_blocks(path.read_text())
)


def test_the_documents_with_summary_blocks_are_found():
    """The data READMEs are; docs/cli.md's example block, in fenced code, is not a block."""
    assert Path("data/free_entropy/README.md") in DOCUMENTS
    assert Path("docs/cli.md") not in DOCUMENTS


@pytest.mark.parametrize("document", DOCUMENTS, ids=str)
def test_each_summary_block_is_its_results_summary(document):
    text, filled = fill_document(ROOT / document)
    assert filled == text, f"{document} is out of date: `dgep fill {document}` rewrites it"
