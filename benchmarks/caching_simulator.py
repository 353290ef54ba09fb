"""How fast the caching simulator replays traces: requests per second per policy and selector, online
(request by request: a heap per policy, O(log n) per request) and offline (a static cache: one vectorised
pass), at 100, 1,000 and 10,000 cache entries. Each trace: Zhu et al.'s synthetic setting (cost ratio 100,
alpha 0.8) with 10 x as many distinct queries as entries, so most requests miss and most misses are
weighed against the cache's lowest entry. Median over seeds; one process, one thread.

    python benchmarks/caching_simulator.py [--seeds 3] [--requests 200000]

Targets (issue 27): >= 300,000 requests/s online and >= 3,000,000 offline at 1,000 entries.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from revmux.caching.simulate import Setup, simulate
from revmux.caching.traces import synthetic_trace

SETUPS = [("online", "lfu", "large", None), ("online", "lec", "large", None), ("online", "lec", "bandit", None),
          ("online", "gdsf", "large", None), ("online", "lru", "cascade", None),
          ("offline", "lfu", "large", None), ("offline", "lec", "simulated", 0.8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--entries", type=int, nargs="+", default=[100, 1000, 10_000])
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"one thread; {args.requests:,} requests per trace, queries = 10 x entries; median of {args.seeds} seeds")
    print(f"{'entries':>8} {'scenario':<8} {'policy':<6} {'selector':<10} {'hit rate':>8} {'requests/s':>12}")
    for entries in args.entries:
        traces = [synthetic_trace(args.requests, 10 * entries, 100, 0.8, seed) for seed in range(args.seeds)]
        for scenario, policy, selector, accuracy in SETUPS:
            rates, hit_rates = [], []
            for seed, trace in enumerate(traces):
                start = time.perf_counter()
                outcome = simulate(trace, Setup(policy, selector, scenario, entries, accuracy), seed)
                rates.append(trace.requests / (time.perf_counter() - start))
                hit_rates.append(outcome.hit_rate)
            print(f"{entries:>8} {scenario:<8} {policy:<6} {selector:<10} {statistics.median(hit_rates):>8.3f} "
                  f"{statistics.median(rates):>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
