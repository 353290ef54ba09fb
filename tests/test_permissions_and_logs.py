"""What the package writes is shared as far as the user's umask allows, and a job's log (stderr redirected to a
file) holds one line per epoch or stage instead of progress bars' carriage returns."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from revmux.core import atomic, progress
from revmux.core.atomic import atomic_directory, atomic_write_bytes, atomic_write_json, atomic_write_svg, atomic_write_text


@pytest.fixture
def umask(request):
    """The process's umask set to the test's value and put back afterwards (it is process-global)."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"), [
    (0o002, 0o664, 0o775),  # a group sharing a project folder: it reads and writes
    (0o022, 0o644, 0o755),
    (0o077, 0o600, 0o700),  # a private umask is honoured, not widened
], indirect=["umask"], ids=["umask 002", "umask 022", "umask 077"])
def test_every_atomic_writer_gives_the_permissions_open_and_mkdir_give_under_the_umask(umask, file_mode, folder_mode,
                                                                                       tmp_path):
    from matplotlib.figure import Figure

    writers = {
        "bytes": lambda path: atomic_write_bytes(path, b"x"),
        "text": lambda path: atomic_write_text(path, "x"),
        "json": lambda path: atomic_write_json(path, {"x": 1}),
        "svg": lambda path: atomic_write_svg(path, Figure()),
    }
    for name, write in writers.items():
        write(tmp_path / "out" / name)
    with atomic_directory(tmp_path / "folder") as scratch:
        (scratch / "inside").write_text("x")
    (tmp_path / "plain").write_text("x")

    assert mode(tmp_path / "plain") == file_mode  # the reference: what the umask gives an ordinary file
    assert {name: oct(mode(tmp_path / "out" / name)) for name in writers} == {name: oct(file_mode) for name in writers}
    assert oct(mode(tmp_path / "folder")) == oct(folder_mode)
    assert oct(mode(tmp_path / "folder" / "inside")) == oct(file_mode)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder", "out", "plain"]  # no temporary left behind


@pytest.mark.parametrize("umask", [0o027], indirect=True, ids=["umask 027"])
@pytest.mark.parametrize("from_proc", [True, False], ids=["from /proc", "by setting it back"])
def test_reading_the_umask_leaves_it_as_it_was(umask, from_proc, tmp_path, monkeypatch):
    if not from_proc:
        monkeypatch.setattr(atomic, "_PROC_STATUS", tmp_path / "no-such-file")
    assert oct(atomic.current_umask()) == oct(umask)
    assert oct(os.umask(umask)) == oct(umask)


class Terminal(io.StringIO):
    """A stand-in for stderr on a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def fresh_bars(monkeypatch):
    """Bars as a fresh process has them: not switched off, transformers' on (earlier tests in this process may have
    turned them off); transformers' put back as they were afterwards. Returns the switch that turns them on."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    monkeypatch.setattr(progress, "_switched_off", False)
    transformers_logging.enable_progress_bar()
    yield transformers_logging.enable_progress_bar
    (transformers_logging.enable_progress_bar if enabled else transformers_logging.disable_progress_bar)()


def test_a_bar_is_drawn_on_a_terminal_only_and_no_progress_turns_it_off_there_too(fresh_bars, monkeypatch):
    def drawn(stderr, enabled=True) -> str:
        monkeypatch.setattr(sys, "stderr", stderr)
        list(progress.progress_bar(range(3), desc="steps", enabled=enabled))
        return stderr.getvalue()

    assert "\r" in drawn(Terminal())
    assert drawn(io.StringIO()) == ""
    assert drawn(Terminal(), enabled=False) == ""
    progress.switch_off()
    assert drawn(Terminal()) == ""


def test_a_job_log_holds_no_carriage_returns(tmp_path):
    """stderr and stdout redirected to one file, as a workflow rule's log does."""
    log = tmp_path / "cache-suite.log"
    with open(log, "w") as handle:
        finished = subprocess.run(
            [sys.executable, "-m", "revmux", "cache-suite", "--runs", "1", "--requests", "300", "--scenario", "offline",
             "--out", str(tmp_path / "runs.csv")],
            stdout=handle, stderr=subprocess.STDOUT, timeout=300,
        )
    text = log.read_bytes()  # not read_text: its universal newlines would turn a carriage return into a newline
    assert finished.returncode == 0, text
    assert b"\r" not in text
    assert b"runs ->" in text


@pytest.mark.slow
def test_teacher_and_prefill_jobs_log_a_line_per_epoch_and_per_split_and_no_bar(tmp_path, capsys, caplog):
    from revmux.cli.main import main

    caplog.set_level("INFO")
    data = ["--task", "sst-2", "--backbone", "stories260k", "--train-size", "16", "--validation-size", "8",
            "--eval-size", "8", "--max-length", "16", "--results", str(tmp_path)]
    assert main(["teacher", *data, "--mode", "head", "--epochs", "2", "--batch-size", "8"]) == 0
    assert main(["prefill", *data, "-p", "1"]) == 0

    assert "\r" not in capsys.readouterr().err
    lines = [record.getMessage() for record in caplog.records]
    for epoch in (1, 2):
        assert len([line for line in lines if line.startswith(f"teacher epoch {epoch}: loss ")]) == 1, lines
    for split, rows in (("train", 16), ("validation", 8), ("eval", 8)):
        assert len([line for line in lines if line.startswith(f"layer-P states ({split}): {rows} rows in ")]) == 1, lines


@pytest.mark.slow
def test_no_progress_silences_transformers_loading_bar_even_on_a_terminal(tmp_path, resources, fresh_bars, monkeypatch):
    from revmux.cli.main import main

    trace, reference = tmp_path / "trace.csv", tmp_path / "reference.csv"
    assert main(["trace", "--backbone", "stories260k", "--requests", "2", "--prompt-tokens", "2", "6",
                 "--output-tokens", "1", "3", "--resources", str(resources), "--out", str(trace)]) == 0
    fresh_bars()  # making the trace here, off a terminal, turned them off
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["--threads", "1", "serve", "--backbone", "stories260k", "--trace", str(trace),
                 "--reference-out", str(reference), "--no-progress"]) == 0
    assert reference.is_file()
    assert "Loading weights" not in terminal.getvalue()
    assert "\r" not in terminal.getvalue()


@pytest.mark.parametrize("umask", [0o002], indirect=True, ids=["umask 002"])
def test_a_prefill_shard_follows_the_umask_too(umask, tmp_path):
    # safetensors writes its files 0600 whatever the umask: the shared layer-P cache must not stay private.
    import torch

    from revmux.multiplexing.features import FeatureBatch, _write_shard

    batch = FeatureBatch(torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.long), torch.zeros(2, dtype=torch.long),
                         torch.zeros(2, dtype=torch.long), torch.zeros(2, 4))
    _write_shard(tmp_path / "shard-00000.safetensors", [batch])
    assert mode(tmp_path / "shard-00000.safetensors") == 0o664
