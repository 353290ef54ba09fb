"""Per-rule job wall times from a Snakemake log: a job starts at the timestamp before its "Job N:" line and ends at the one before "Finished jobid: N".

usage: python benchmarks/snakemake_job_times.py .snakemake/log/<run>.snakemake.log
"""
import re, sys, collections
from datetime import datetime
stamp, start, rule_of, durations = None, {}, {}, []
pending_rule = None
for line in open(sys.argv[1]):
    line = line.rstrip()
    m = re.match(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", line)
    if m:
        stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y"); continue
    m = re.match(r"^(?:local)?[Jj]ob (\d+)[: ]", line)
    if m and m.group(1) not in start:
        start[m.group(1)] = stamp; continue
    m = re.match(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", line)
    if m and m.group(1) in start:
        durations.append((m.group(2), (stamp - start[m.group(1)]).total_seconds()))
per = collections.defaultdict(list)
for rule, d in durations: per[rule].append(d)
for rule, ds in per.items():
    print(f"{rule:12s} jobs {len(ds):2d}  total {sum(ds):7.0f} s  min {min(ds):5.0f}  max {max(ds):5.0f}")
print(f"{'all':12s} jobs {len(durations):2d}  total {sum(d for _, d in durations):7.0f} s")
