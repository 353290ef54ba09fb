"""How fast the caching simulator replays Zhu et al.'s synthetic traces (10,000 requests, 20 queries,
cache 8, cost ratio 100, alpha 0.8): requests per second per policy and selector, offline (a static cache:
served in one vectorised call) and online (request by request), median of several seeds, one process.

    python benchmarks/caching_simulator.py [--seeds 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from revmux.caching.simulate import Setup, simulate
from revmux.caching.traces import synthetic_trace

SETUPS = [
    Setup("lfu", "large", "offline", 8), Setup("lec", "simulated", "offline", 8, 0.8),
    Setup("lfu", "large", "online", 8), Setup("lec", "bandit", "online", 8), Setup("gdsf", "bandit", "online", 8),
    Setup("lru", "cascade", "online", 8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=7)
    args = parser.parse_args()
    traces = [synthetic_trace(10_000, 20, 100, 0.8, seed) for seed in range(args.seeds)]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"one thread; median of {args.seeds} seeds")
    print(f"{'scenario':<8} {'policy':<6} {'selector':<10} {'requests/s':>12}")
    for setup in SETUPS:
        rates = []
        for seed, trace in enumerate(traces):
            start = time.perf_counter()
            simulate(trace, setup, seed)
            rates.append(trace.requests / (time.perf_counter() - start))
        print(f"{setup.scenario:<8} {setup.policy:<6} {setup.selector:<10} {statistics.median(rates):>12,.0f}")


if __name__ == "__main__":
    main()
