"""The verdicts the README and docs quote are the ones `revmux aggregate` wrote for the committed runs, word
for word: a quoted block sits between `<!-- verdicts: <file> -->` and `<!-- end verdicts -->`, each line of
the file's bullets as one `> ` line each, so a regenerated run whose verdicts changed fails here until the pages quote it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- verdicts: (?P<file>\S+) -->\n(?P<body>.*?)<!-- end verdicts -->", re.S)
# Each committed run's verdicts, and the pages that must quote them.
QUOTED = {
    "docs/default-run/verdicts.md": ["README.md", "docs/multiplexing.md"],
    "docs/alternatives-run/verdicts.md": ["docs/multiplexing.md"],
    "docs/batching-run/batching-verdicts.md": ["README.md", "docs/batching.md"],
    "docs/caching-run/caching-pairs-verdicts.md": ["README.md", "docs/caching.md"],
    "docs/paper-table-cpu/table/verdicts.md": ["docs/paper-table-cpu/README.md"],
}


def verdict_lines(path: Path) -> list[str]:
    """The verdict sentences: one bullet each (the headings and the note that states the rule are not quoted)."""
    return [line for line in path.read_text().splitlines() if line.startswith("- ")]


def quoted_blocks(page: Path) -> dict[str, list[str]]:
    blocks = {}
    for match in BLOCK.finditer(page.read_text()):
        lines = [line for line in match["body"].splitlines() if line.strip()]
        assert all(line.startswith("> ") for line in lines), f"{page}: every quoted verdict line starts with '> '"
        blocks[match["file"]] = [line[2:] for line in lines]
    return blocks


@pytest.mark.parametrize(("verdicts", "page"), [(file, page) for file, pages in QUOTED.items() for page in pages])
def test_pages_quote_the_committed_runs_verdicts_word_for_word(verdicts, page):
    lines = verdict_lines(ROOT / verdicts)
    assert lines, f"{verdicts} holds no verdict"
    blocks = quoted_blocks(ROOT / page)
    assert verdicts in blocks, f"{page} does not quote {verdicts}"
    assert blocks[verdicts] == lines


def test_a_block_is_read_line_by_line_and_an_unquoted_line_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n<!-- verdicts: run/verdicts.md -->\n> X dominates Y.\n\n> No option beats Z.\n"
                    "<!-- end verdicts -->\n")
    assert quoted_blocks(page) == {"run/verdicts.md": ["X dominates Y.", "No option beats Z."]}
    page.write_text("<!-- verdicts: run/verdicts.md -->\nX dominates Y.\n<!-- end verdicts -->\n")
    with pytest.raises(AssertionError, match="starts with"):
        quoted_blocks(page)
