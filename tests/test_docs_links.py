"""What the README and docs/ tell a user to open or type exists: no dangling path, flag or make target.

Checked in README.md, config/README.md and every docs/*.md page (not the committed result folders under
docs/*-run/, which runs write):

- every relative link target, resolved from the page's folder, and its `#anchor` among the headings of a
  linked Markdown page;
- every backticked repository path: a code span without spaces that contains a `/` or ends in one of
  PATH_SUFFIXES, and in commands (code blocks, or code spans with spaces) every argument that contains a
  `/` (a bare `t.csv` there is a file the command writes). A backticked path may be written from the
  repository root or from the page's folder (config/README.md names `config.yaml`); a bare name
  (`registry.py`, `methods/`, `metrics.json`: the sentence names its folder) must be the name of a file or
  folder of the repository, or a file name quoted in revmux/ or workflow/ (what a run writes). Not checked:
  placeholders (`<task>`, `{system}`, `*.json`, `$VAR`, `...`), absolute and home paths (the system's, not
  ours), and GENERATED_BY_RUNS, which a clone does not hold until a run writes them;
- every `--flag` of a `revmux VERB ...` command line against that verb's parser, of a `snakemake ...` line
  against `snakemake --help`, and a flag backticked on its own against every revmux verb, snakemake and
  OTHER_TOOL_FLAGS;
- every `make TARGET` against the Makefile's targets;
- `../shared` (the team's folder beside the development clone, which users never have) is named only in a
  sentence, list item or table row that calls it the team's folder (the words "team's folder"), and is
  never a link: a user cannot follow it.

"Exists" means in what a clone holds: tracked files and files git would add (not ignored ones), so a
result left in results/ or a model in resources/ cannot hide a dangling name.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PATH_SUFFIXES = (".yaml", ".yml", ".py", ".md", ".svg", ".csv", ".txt", ".smk", ".sh", ".json", ".toml", ".lock", ".gz")
# Written by a run, so absent from a fresh clone: run outputs and tables (results/), job logs (logs/),
# the HTML report (reports/), fetched models and data (resources/), the environment `make` creates (.venv/).
GENERATED_BY_RUNS = ("results", "logs", "reports", "resources", ".venv")
# Names with a `/` that are not files of this repository.
NOT_REPOSITORY_PATHS = {
    "nyu-mll/glue": "GLUE's dataset id on the Hugging Face hub",
}
# Options of other programs that the pages mention on their own.
OTHER_TOOL_FLAGS = {
    "--exclusive": "sbatch: the SLURM profile asks for whole nodes for timing jobs",
    "--gpus": "sbatch: what the SLURM plugin turns `gpu: 1` into",
}
SHARED = "../shared"
TEAM_FOLDER = re.compile(r"team's (`\.\./shared` )?folder", re.IGNORECASE)

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]]|\][^(])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
FLAG = re.compile(r"^--?[A-Za-z][\w-]*$")
PLACEHOLDER = re.compile(r"[<>{}*$~]|\.\.\.")
UNIT_START = re.compile(r"^\s*(\||[-*+]\s|\d+\.\s|#)")
PYTHON = re.compile(r"^(\S*/)?python3?(\.\d+)?$|^\$REVMUX_PYTHON$|^\$\(PYTHON\)$")


# ---- reading a page -----------------------------------------------------------------------------------

def split_page(text: str) -> tuple[list[str], list[str]]:
    """(prose lines, code-block lines); a code line ending in `\\` is joined with the next."""
    prose, code, in_code = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            prose.append(line)
        elif code and code[-1].endswith("\\"):
            code[-1] = code[-1][:-1] + " " + line.strip()
        else:
            code.append(line)
    return prose, code


def code_spans(prose: list[str]) -> list[str]:
    return [match.group(2).strip() for line in prose for match in CODE_SPAN.finditer(line)]


def strip_comment(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


def commands(prose: list[str], code: list[str]) -> list[list[str]]:
    """Every command in code blocks and in code spans with spaces, as tokens; `a && b`, `a; b` and
    `a | b` (b a word, not a flag: `[--x | --y]` is one command) are two commands."""
    found = []
    for line in [strip_comment(line) for line in code] + [span for span in code_spans(prose) if " " in span]:
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError:  # an unbalanced quote in a sketch of a command
            tokens = line.split()
        current: list[str] = []
        for index, token in enumerate(tokens):
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if token in ("&&", "||", ";") or (token == "|" and following and not following.startswith("-")):
                found.append(current)
                current = []
            else:
                current.append(token)
        found.append(current)
    return [tokens for tokens in found if tokens]


def without_prefix(tokens: list[str]) -> list[str]:
    """The command without `sudo -E`, `time` or `VAR=value` before it."""
    while tokens and (tokens[0] in ("sudo", "-E", "time", "exec") or re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0])):
        tokens = tokens[1:]
    return tokens


def program(tokens: list[str]) -> tuple[str | None, list[str]]:
    """('revmux' | 'snakemake' | 'make' | None, the arguments after the program)."""
    tokens = without_prefix(tokens)
    if not tokens:
        return None, []
    if len(tokens) >= 3 and PYTHON.match(tokens[0]) and tokens[1] == "-m":
        name, rest = tokens[2], tokens[3:]
    else:
        name, rest = tokens[0].rsplit("/", 1)[-1], tokens[1:]
    return (name, rest) if name in ("revmux", "snakemake", "make") else (None, rest)


def flag_of(token: str) -> str | None:
    token = token.strip("[]()")
    token = token.split("=", 1)[0]
    return token if FLAG.match(token) else None


# ---- what exists --------------------------------------------------------------------------------------

@functools.cache
def repository_files() -> frozenset[str]:
    """Files a clone holds (tracked, or new and not ignored) and their folders, relative to the root."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if listing.returncode != 0:
        pytest.skip(f"not a git checkout, so what a clone holds is unknown: {listing.stderr.strip()}")
    names = set()
    for name in filter(None, listing.stdout.split("\0")):
        if (ROOT / name).exists():  # a file deleted in the working tree but not yet in git's index
            names.add(name)
            names.update(str(parent) for parent in Path(name).parents if str(parent) != ".")
    return frozenset(names)


def in_repository(relative: Path) -> bool:
    """True when `relative` (from the root, possibly with `..`) names a file or folder of the clone."""
    resolved = (ROOT / relative).resolve()
    if not resolved.is_relative_to(ROOT):
        return False
    inside = resolved.relative_to(ROOT)
    return str(inside) in ("", ".") or str(inside) in repository_files()


@functools.cache
def repository_basenames() -> frozenset[str]:
    return frozenset(Path(name).name for name in repository_files())


@functools.cache
def names_runs_write() -> frozenset[str]:
    """File names quoted in the package and the workflow: what a run writes (`metrics.json`, `speed.csv`)."""
    sources = [*(ROOT / "revmux").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk"), ROOT / "Snakefile"]
    quoted = re.compile(r"[\"'/]([\w.-]+\.[a-z][\w.]*)[\"']")
    return frozenset(name for source in sources for name in quoted.findall(source.read_text()))


@functools.cache
def revmux_options() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(options before the verb, each verb's options), from the parser the command line builds."""
    from revmux.cli.main import build_parser

    parser = build_parser()
    top = frozenset(option for action in parser._actions for option in action.option_strings)
    verbs = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                verbs[verb] = frozenset(option for sub_action in sub._actions for option in sub_action.option_strings)
    return top, verbs


@functools.cache
def snakemake_options() -> frozenset[str]:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"`snakemake --help` failed, so its flags cannot be checked:\n{result.stderr[-2000:]}"
    return frozenset(re.findall(r"(?:^|[\s,\[])(--?[A-Za-z][\w-]*)", result.stdout, flags=re.MULTILINE))


@functools.cache
def make_targets() -> frozenset[str]:
    return frozenset(re.findall(r"^([\w.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


# ---- the checks ---------------------------------------------------------------------------------------

def looks_like_path(token: str) -> bool:
    return ("/" in token or token.endswith(PATH_SUFFIXES)) and not re.search(r"\s", token)


def path_problem(token: str, page_dir: Path, *, link: bool) -> str | None:
    """Why `token` is a dangling name, or None when it exists or is not ours to check."""
    token = token.strip("'\"").rstrip(".,;:")
    if SHARED in token:
        return None  # judged by shared_folder_problems
    if PLACEHOLDER.search(token) or token.startswith(("/", "-")) or "://" in token or token in NOT_REPOSITORY_PATHS:
        return None
    relative = (page_dir / token) if link else Path(token)
    parts = Path(token).parts
    if not link and parts and parts[0] in GENERATED_BY_RUNS:
        return None
    candidates = [relative] if link else [Path(token), page_dir / token]
    if any(in_repository(candidate) for candidate in candidates):
        return None
    if not link and len(parts) == 1 and (parts[0] in repository_basenames() or parts[0] in names_runs_write()):
        return None
    return f"{token}: {'link target' if link else 'path'} not in the repository"


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    prose, _ = split_page(text)
    headings = [line.lstrip("#").strip() for line in prose if re.match(r"^#{1,6}\s", line)]
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def dangling_paths(text: str, page_dir: Path = Path(".")) -> list[str]:
    """`page_dir` is the page's folder relative to the root: links are resolved from it."""
    prose, code = split_page(text)
    problems = []
    for line in prose:
        for match in LINK.finditer(line):
            target, _, anchor = match.group(1).partition("#")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            problem = path_problem(target, page_dir, link=True) if target else None
            problems.append(problem)
            if anchor and not problem and (not target or target.endswith(".md")):
                linked = (ROOT / page_dir / target).read_text() if target else text
                if anchor not in heading_anchors(linked):
                    problems.append(f"{target}#{anchor}: no such heading")
    for span in code_spans(prose):
        if looks_like_path(span):
            problems.append(path_problem(span, page_dir, link=False))
    for tokens in commands(prose, code):
        for token in tokens:
            value = token.split("=", 1)[-1] if token.startswith("-") else token
            if "/" in value:
                problems.append(path_problem(value, page_dir, link=False))
    return sorted({problem for problem in problems if problem})


def unknown_flags(text: str) -> list[str]:
    prose, code = split_page(text)
    top, verbs = revmux_options()
    every_revmux_option = top.union(*verbs.values())
    problems = []
    for tokens in commands(prose, code):
        name, arguments = program(tokens)
        if name == "revmux":
            verb, known = None, top
            skip_value = False
            for token in arguments:
                flag = flag_of(token)
                if verb is None and flag is None and not skip_value:
                    if token in verbs:
                        verb, known = token, verbs[token]
                    elif re.search(r"[<>]|^[A-Z]+$|\.\.\.", token):  # `revmux VERB --help`
                        verb, known = token, every_revmux_option
                    else:
                        problems.append(f"revmux {token}: no such verb")
                        break
                    continue
                skip_value = verb is None and flag == "--threads"
                if flag and flag not in known:
                    problems.append(f"revmux {verb or ''} {flag}: no such option".replace("  ", " "))
        elif name == "snakemake":
            problems += [f"snakemake {flag}: no such option" for flag in map(flag_of, arguments)
                         if flag and flag not in snakemake_options()]
        elif name == "make":
            problems += [f"make {target}: no such target in the Makefile" for target in arguments
                         if not target.startswith("-") and "=" not in target and target not in make_targets()]
    for span in code_spans(prose):
        first = span.split()[0] if span.split() else ""
        flag = flag_of(first)
        if flag and flag not in every_revmux_option | snakemake_options() | set(OTHER_TOOL_FLAGS):
            problems.append(f"{flag}: no revmux verb or snakemake has this option")
    return sorted(set(problems))


def text_units(text: str) -> list[str]:
    """Paragraphs, with each list item, table row, heading and code line a unit of its own."""
    units: list[str] = []
    current: list[str] = []
    in_code = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            units.append("\n".join(current))
            current = []
        elif in_code or not line.strip() or UNIT_START.match(line):
            units.append("\n".join(current))
            current = [line] if line.strip() else []
        else:
            current.append(line)
    units.append("\n".join(current))
    return [unit for unit in units if unit.strip()]


def shared_folder_problems(text: str) -> list[str]:
    problems = []
    for unit in text_units(text):
        if SHARED not in unit:
            continue
        linked = [target for target in LINK.findall(unit) if SHARED in target]
        if linked:
            problems.append(f"{linked[0]}: a link into the team's folder, which users do not have")
        elif not TEAM_FOLDER.search(unit):
            first_line = next(line for line in unit.splitlines() if SHARED in line)
            problems.append(f"{SHARED} named without saying it is the team's folder: {first_line.strip()[:120]}")
    return problems


# ---- tests --------------------------------------------------------------------------------------------

def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", DOCUMENTS, ids=page_id)
def test_every_named_path_exists(page):
    problems = dangling_paths(page.read_text(), page.parent.relative_to(ROOT))
    assert not problems, f"{page_id(page)} names what a clone does not hold:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", DOCUMENTS, ids=page_id)
def test_every_named_flag_exists(page):
    problems = unknown_flags(page.read_text())
    assert not problems, (f"{page_id(page)} names options or targets that do not exist "
                          "(`revmux VERB --help` lists a verb's):\n" + "\n".join(problems))


@pytest.mark.parametrize("page", DOCUMENTS, ids=page_id)
def test_the_team_folder_is_named_as_such(page):
    problems = shared_folder_problems(page.read_text())
    assert not problems, f"{page_id(page)}:\n" + "\n".join(problems)


def test_the_docs_index_lists_every_page():
    index = ROOT / "docs" / "README.md"
    linked = {match.group(1).split("#")[0] for match in LINK.finditer(index.read_text())}
    pages = {path.name for path in DOCUMENTS if path.parent == index.parent and path != index}
    assert pages <= linked, f"docs/README.md does not link {sorted(pages - linked)}: add them in reading order"


# Lines of the README before it was split into docs/ (commit 24b7e72), each naming something that did
# not exist: the checks must find every one of them.
OLD_README = """\
SST-2, RTE, QNLI and MRPC. The authors' released code does not run and measures no speed; see
`../shared/docs/revmux-method.md` for what this harness does differently and why.

sets its own shorter schedule in `config/config.yaml`). The defaults live in one place, the
dataclasses of `revmux/config.py`: the command line reads them and a test checks that the

trained selector's decision, for `--selector classifier`). A missing column, a negative or non-numeric cost or a

```bash
python -m revmux serve --trace t.csv --backbone smollm2-135m --system baton --reference ref.csv --out baton.json
python -m revmux cache-replay --trace your-log.csv --policy lfu lec gdsf lru --selector large cascade \\
    --scenario online --cache-size 40 --out replay.csv                   # your own trace
snakemake --cores 2 --configfile config/batching-cpu.yaml                                    # the whole grid
```
"""


def test_the_checks_find_the_old_readmes_dangling_names():
    assert dangling_paths(OLD_README) == ["revmux/config.py: path not in the repository"]
    assert unknown_flags(OLD_README) == [
        "--selector: no revmux verb or snakemake has this option",
        "revmux cache-replay --policy: no such option",
        "revmux cache-replay --selector: no such option",
        "revmux serve --system: no such option",
    ]
    assert len(shared_folder_problems(OLD_README)) == 1


def test_the_checks_tell_dangling_names_from_generated_and_placeholder_ones():
    page = """\
See [the method](method.md#stages), [its cache](method.md#the-feature-cache), [a page that went away](gone.md) and [the paper](https://arxiv.org/abs/2410.04519).
`make run` then `make install`; `results/tables/speed.csv`, `results/<task>/<backbone>/`, `runs/{system}.json`.

```bash
snakemake --cores 2 --configfile config/nope.yaml --no-such-flag
python -m revmux --threads 2 train --method revmux --n 2 -p 3 --no-such-option
```
"""
    assert dangling_paths(page, Path("docs")) == [
        "config/nope.yaml: path not in the repository",
        "gone.md: link target not in the repository",
        "method.md#the-feature-cache: no such heading",
    ]
    assert unknown_flags(page) == [
        "make install: no such target in the Makefile",
        "revmux train --no-such-option: no such option",
        "snakemake --no-such-flag: no such option",
    ]
