import subprocess
import sys

import pytest

from revmux.cli.main import TRACKS, VERBS, main
from revmux.data import glue


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "revmux", *args], capture_output=True, text=True)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert "usage: revmux" in capsys.readouterr().out


def test_module_entry_point_lists_the_verbs():
    result = run_cli("--help")
    assert result.returncode == 0
    listing = result.stdout.split("verbs, by track")[1]
    for track, verbs in TRACKS.items():  # each track's heading, then its verbs, in order
        section = listing.split(f"{track}:")[1]
        assert [line.split()[0] for line in section.splitlines()[1:len(verbs) + 1]] == verbs


def test_data_prints_sizes_balance_and_hashes(glue_dir):
    result = run_cli("data", "rte", "--glue-dir", str(glue_dir))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    dev = glue.read_glue_tsv(glue_dir, "rte", "dev", ("entailment", "not_entailment"))["label"]
    counts = dev.value_counts()  # 277: 146 / 131 with the full files, fewer with the test excerpts
    assert rows["dev"][1:6] == [str(len(dev)), "entailment", f"{counts[0]},", "not_entailment", str(counts[1])]
    assert rows["test"][2] == "unlabelled"
    assert len(rows["validation"][-1]) == 64  # the split's sha256


def test_errors_are_one_line_with_exit_code_2():
    result = run_cli("fetch", "no-such-model")
    assert result.returncode == 2
    assert result.stderr.startswith("revmux fetch: error: unknown asset(s) ['no-such-model']")
    assert "Traceback" not in result.stderr


def test_help_needs_no_torch():
    # `revmux --help` and every verb's parser answer in a second, not after torch's multi-second import.
    code = "import sys; sys.modules['torch'] = None; from revmux.cli.main import build_parser; build_parser()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
