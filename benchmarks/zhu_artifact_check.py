"""Does Zhu et al.'s own code, run with fixed seeds, land where this harness's simulator does?

Imports the artifact's `inferband` package from a checkout you point to (github.com/Ying1123/
llm-caching-multiplexing, commit 2dc7e69; nothing of it is copied here), runs each cell of the synthetic
tables with seeds 0 .. N-1 through its `generate_requests` and `Server`, and prints beside it our mean
over the same seeds and the published value. The artifact seeds its runs with the clock (`int(time.time())`),
which is why its tables are not reproducible; with fixed seeds they are.

    python benchmarks/zhu_artifact_check.py --artifact /path/to/llm-caching-multiplexing [--seeds 100] [--cells all]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from revmux.caching.simulate import Setup, simulate
from revmux.caching.suites import PUBLISHED, SCENARIO_SELECTOR
from revmux.caching.traces import synthetic_trace

ARTIFACT_NAMES = {"lfu": "LFU", "lec": "ours", "large": "large", "cascade": "cascade", "selector": "ours"}
COLUMNS = [("lfu", "large"), ("lfu", "cascade"), ("lfu", "selector"), ("lec", "large"), ("lec", "cascade"), ("lec", "selector")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, required=True, help="a checkout of Ying1123/llm-caching-multiplexing")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--cells", choices=["all", "differing"], default="differing",
                        help="every cell, or only those where our 100-seed mean is > 15%% from the published value")
    args = parser.parse_args()
    sys.path[:0] = [str(args.artifact), str(args.artifact / "inferband")]
    from inferband.server import Server
    from inferband.trace import generate_requests

    def artifact_cost(scenario, policy, selector, ratio, accuracy, alpha, seed):
        requests = generate_requests(num_round=10_000, num_query=20, cost_ratio=ratio, alpha=alpha,
                                     align_type="random", seed=seed, cost_dist="binomial")
        server = Server(cache_size=8, cache_strategy=ARTIFACT_NAMES[policy], selector_acc=accuracy,
                        selector=ARTIFACT_NAMES[selector], scenario=scenario, requests=requests, seed=seed)
        total = 0.0
        for request in requests:
            server.receive_request(request)
            total += server.step(request, "binomial")
        return total

    print(f"# seeds 0..{args.seeds - 1}; total cost / 1000, mean over the seeds")
    print(f"{'scenario':<8} {'alpha':>5} {'ratio':>6} {'acc':>4} {'cell':<15} {'artifact':>9} {'ours':>9} "
          f"{'ours/artifact':>13} {'published':>9}")
    for scenario, table in PUBLISHED.items():
        for (alpha, ratio, accuracy), values in table.items():
            for (policy, selector), published in zip(COLUMNS, values):
                ours_selector = SCENARIO_SELECTOR[scenario] if selector == "selector" else selector
                setup = Setup(policy, ours_selector, scenario, 8, accuracy, "artifact")  # the authors' accounting
                ours = [simulate(synthetic_trace(10_000, 20, ratio, alpha, seed), setup, seed).total_cost / 1000
                        for seed in range(args.seeds)]
                if args.cells == "differing" and abs(statistics.mean(ours) / published - 1) <= 0.15:
                    continue
                theirs = [artifact_cost(scenario, policy, selector, ratio, accuracy, alpha, seed) / 1000
                          for seed in range(args.seeds)]
                print(f"{scenario:<8} {alpha:>5} {ratio:>6} {accuracy:>4} {policy.upper() + '+' + selector:<15} "
                      f"{statistics.mean(theirs):>9.2f} {statistics.mean(ours):>9.2f} "
                      f"{statistics.mean(ours) / statistics.mean(theirs):>13.4f} {published:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
