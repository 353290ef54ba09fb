"""The generation-batching grid: which systems serve which workload (the static sweep at the Poisson loads
only), names that carry their own settings, bad sweep configurations refused by key, and the committed CPU
benchmark's plan."""

from __future__ import annotations

import json

import pytest
import yaml

from revmux.batching.systems import split_variant
from revmux.workflow import batching as grid
from revmux.workflow.config_errors import check_shape
from revmux.workflow.multiplexing import ConfigError

from workflow_run import ROOT, snakemake

SWEEP = ["static-t0-b8", "static-t0.5-b8", "static-t2-b8"]  # static-t0.05-b8 is static itself (its defaults)


def grid_config(**batching) -> dict:
    """config/config.yaml with the batching track on, `batching` over the schema's defaults."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["batching"] = {"enabled": True, **batching}
    check_shape(config)
    grid.check_config(config)
    return config


def systems_by_workload(config: dict) -> dict[str, list[str]]:
    served: dict[str, list[str]] = {}
    for run in grid.runs(config):
        if run["seed"] == config["batching"]["seeds"][0]:
            served.setdefault(run["workload"], []).append(run["system"])
    return served


def test_the_static_sweep_serves_only_at_the_poisson_loads():
    config = grid_config()
    served = systems_by_workload(config)
    systems = config["batching"]["systems"]
    assert list(served) == ["offline", "load0.25", "load0.5", "load1", "load1.5", "load2", "closed8"]
    assert served["offline"] == served["closed8"] == systems
    for load in ("load0.25", "load0.5", "load1", "load1.5", "load2"):
        assert served[load] == systems + SWEEP
    assert len(grid.runs(config)) == 3 * (2 * len(systems) + 5 * (len(systems) + len(SWEEP)))


def test_every_served_name_runs_with_the_settings_its_name_says():
    from revmux.batching.config import settings_for

    config = grid_config(static_sweep={"timeouts": [0, 0.05, 0.5, 2], "max_batches": [4, 8]})
    names = {run["system"] for run in grid.runs(config)}
    swept = sorted(name for name in names if name.startswith("static-"))
    assert len(swept) == 7  # 4 timeouts x 2 max batches, less static's own (0.05 s, 8)
    for name in swept:
        base, fixed = split_variant(name)
        settings = settings_for(name, max_batch=8, timeout_s=0.05)
        assert base == "static" and settings.system == name
        assert (settings.timeout_s, settings.max_batch) == (fixed["timeout_s"], fixed["max_batch"])
    assert settings_for("static-t2-b4", max_batch=8, timeout_s=0.05).timeout_s == 2.0


def test_load_systems_chooses_who_serves_the_loads_besides_the_sweep():
    served = systems_by_workload(grid_config(load_systems=["baton", "orca"]))
    assert served["load1"] == ["baton", "orca", "static-t0-b8", "static-t0.05-b8", "static-t0.5-b8", "static-t2-b8"]
    assert "unbatched" in served["offline"] and "static-t0-b8" not in served["offline"]


def test_settings_that_contradict_their_name_are_refused():
    from revmux.batching.config import ServeSettings, check_serve
    from revmux.core.errors import RevmuxError

    with pytest.raises(RevmuxError, match="system static-t0.5-b8 fixes max_batch = 8, but its settings give 4"):
        check_serve(ServeSettings("static-t0.5-b8", max_batch=4, timeout_s=0.5))


def test_a_variant_is_served_with_its_names_settings_and_filed_under_its_name(tmp_path):
    import pandas as pd

    from revmux.cli.main import main

    trace = tmp_path / "trace.csv"
    pd.DataFrame({"request": ["a", "b", "c"], "arrival_s": [0.0, 0.0, 0.0], "prompt_ids": ["5 6 7", "8 9", "10"],
                  "output_tokens": [3, 2, 4]}).to_csv(trace, index=False)
    out = tmp_path / "runs" / "{system}.json"
    assert main(["--threads", "1", "serve", "--backbone", "stories260k", "--trace", str(trace), "--systems", "static",
                 "static-t0-b2", "--max-batch", "3", "--timeout", "0.25", "--no-progress", "--out", str(out)]) == 0
    results = {path.stem: json.loads(path.read_text()) for path in (tmp_path / "runs").glob("*.json")}
    assert sorted(results) == ["static", "static-t0-b2"]
    assert (results["static"]["settings"]["timeout_s"], results["static"]["settings"]["max_batch"]) == (0.25, 3)
    variant = results["static-t0-b2"]
    assert variant["system"] == "static-t0-b2"
    assert (variant["settings"]["system"], variant["settings"]["timeout_s"], variant["settings"]["max_batch"]) == ("static-t0-b2", 0.0, 2)
    assert variant["summary"]["forward_passes"] > results["static"]["summary"]["forward_passes"]  # two batches, not one


@pytest.mark.parametrize(("batching", "message"), [
    ({"systems": ["static", "static-tfast"]}, "config key batching.systems: unknown system 'static-tfast'"),
    ({"systems": ["static", "baton", "baton"]}, "config key batching.systems: baton listed twice; list each system once"),
    ({"static_sweep": {"timeouts": [0, -0.5]}}, "config key batching.static_sweep.timeouts: -0.5 s is negative"),
    ({"static_sweep": {"timeouts": [0.5, 0.5]}}, "config key batching.static_sweep.timeouts: 0.5 listed twice"),
    ({"static_sweep": {"timeouts": [1e-07]}}, "config key batching.static_sweep.timeouts: 1e-07 s does not survive"),
    ({"static_sweep": {"max_batches": [4, 4]}}, "config key batching.static_sweep.max_batches: 4 listed twice"),
    ({"systems": ["static", "static-t2-b8"]}, "config key batching.systems: static-t2-b8 is also a variant of batching.static_sweep"),
    ({"systems": ["static", "baton"], "load_systems": ["orca"]}, "config key batching.load_systems: orca not in batching.systems"),
    ({"systems": ["baton", "orca"]}, "config key batching.systems: the loads are multiples of static's offline requests/s"),
])
def test_a_bad_batching_configuration_is_refused_naming_its_key(batching, message):
    with pytest.raises(ConfigError) as refused:
        grid_config(**batching)
    assert message in str(refused.value)


def test_a_bad_sweep_is_refused_before_any_job():
    override = "batching=" + json.dumps({"enabled": True, "static_sweep": {"timeouts": [0, -1]}})
    result = snakemake("-n", "--config", override)
    assert result.returncode != 0
    assert "Invalid configuration: config key batching.static_sweep.timeouts: -1 s is negative" in result.stdout + result.stderr


# config/batching-cpu.yaml: who serves where (the yaml's comments give the time budget behind it).
CPU_SYSTEMS = "static padded-iteration orca baton baton-no-split hf-static hf-continuous hf-continuous-orca unbatched"
CPU_LOAD_SYSTEMS = "static orca baton hf-continuous-orca static-t0-b8 static-t0.5-b8 static-t2-b8"


def test_the_cpu_benchmark_plans_three_seeds_of_every_workload():
    result = snakemake("-n", "--forceall", "--quiet", "rules", "--configfile", "config/batching-cpu.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    # 3 seeds x (offline + closed8) and 3 seeds x 5 loads; a reference and an offline trace per seed
    assert counts["batching_serve"] == 6 and counts["batching_serve_load"] == 15
    assert counts["batching_reference"] == 3 and counts["batching_offline_trace"] == 3
    assert counts["batching_load_trace"] == 15
    assert not set(counts) & {"teacher", "train", "evaluate", "speed", "aggregate"}
    commands = snakemake("-n", "--forceall", "-p", "--configfile", "config/batching-cpu.yaml").stdout
    assert commands.count(f"--systems {CPU_SYSTEMS} ") == 6
    assert commands.count(f"--systems {CPU_LOAD_SYSTEMS} ") == 15
    assert commands.count("--systems ") == 21
    assert "runs/s2/load0.25/{system}.json" in commands and "--concurrency 8" in commands
