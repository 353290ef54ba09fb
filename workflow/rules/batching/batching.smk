# The generation-batching track: traces -> reference tokens -> one timed run per system x workload x seed
# -> tables and figures. Enable with `batching: {enabled: true}` (config/batching-cpu.yaml); its tables and
# figures join the same HTML report as the other tracks', under layout.BATCHING_CATEGORY.
BATCHING_RECORDS = layout.pattern(layout.BATCHING_RECORDS)
# Every run's per-request records: what the TTFT and TPOT distributions are drawn from.
BATCHING_RECORDS_FILES = [BATCHING_RECORDS.format(**run) for run in batching_grid.runs(config)]


rule batching_offline_trace:
    input:
        "resources/fetched/backbone-{backbone}.done",
        f"resources/fetched/task-{BATCHING['task']}.done",
    output:
        BATCHING_TRACE.replace("{workload}", "offline"),
    params:
        trace=lambda wildcards: batching_grid.trace_arguments(config, int(wildcards.seed)),
    log:
        "logs/batching/{backbone}/s{seed}-offline-trace.log",
    message:
        "Making the offline trace of seed {wildcards.seed} for {wildcards.backbone}"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux trace {params.trace} --arrivals offline --out {output} > {log} 2>&1"


rule batching_load_trace:
    input:
        capacity=BATCHING_RUN.replace("{workload}", "offline").replace("{system}", batching_grid.CAPACITY_SYSTEM),
    output:
        BATCHING_TRACE.replace("{workload}", "load{load}"),
    params:
        trace=lambda wildcards: batching_grid.trace_arguments(config, int(wildcards.seed)),
    log:
        "logs/batching/{backbone}/s{seed}-load{load}-trace.log",
    message:
        "Making the Poisson trace at {wildcards.load} x static capacity, seed {wildcards.seed}, for {wildcards.backbone}"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux trace {params.trace} --load {wildcards.load} --capacity-from {input.capacity}"
        " --out {output} > {log} 2>&1"


rule batching_reference:
    input:
        BATCHING_TRACE.replace("{workload}", "offline"),
    output:
        BATCHING_REFERENCE,
    params:
        dtype=BATCHING["dtype"],
        device=config["device"],
    log:
        "logs/batching/{backbone}/s{seed}-reference.log",
    message:
        "Unbatched greedy reference tokens of seed {wildcards.seed} on {wildcards.backbone}"
    threads: threads_for("batching_reference")
    resources:
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} serve --trace {input} --backbone {wildcards.backbone}"
        " --device {params.device} --dtype {params.dtype} --reference-out {output} --no-progress > {log} 2>&1"


# One job per workload and seed serves its systems, each in its own fresh process (`revmux serve
# --systems A B ...`): a separate job per system would pay Python's and transformers' imports each time,
# most of a short run. Offline and the closed loops are served by BATCHING_SYSTEMS, the Poisson loads by
# BATCHING_LOAD_SYSTEMS (with the static sweep, which serves only there): a rule each, since a rule's
# outputs cannot depend on its wildcards.
rule batching_serve:
    input:
        trace=batching_trace_for,
        reference=BATCHING_REFERENCE,
    output:
        runs=expand(BATCHING_RUN, system=BATCHING_SYSTEMS, allow_missing=True),
        records=expand(BATCHING_RECORDS, system=BATCHING_SYSTEMS, allow_missing=True),
    wildcard_constraints:
        workload=r"offline|closed\d+",
    params:
        serve=lambda wildcards: batching_grid.serve_arguments(config, wildcards.workload),
        systems=" ".join(BATCHING_SYSTEMS),
        out=lambda wildcards: BATCHING_RUN.format(system="{system}", **wildcards),
        threads=threads_for("batching_serve"),
    log:
        "logs/batching/{backbone}/s{seed}/{workload}.log",
    message:
        "Serving the {wildcards.workload} trace of seed {wildcards.seed} on {wildcards.backbone} with {params.systems}"
        " ({params.threads} threads, {threads} cores held)"
    threads: timing_reservation("batching_serve")
    resources:
        gpu=1 if USES_GPU else 0,
        bench_slot=1,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {params.threads} serve --trace {input.trace} --backbone {wildcards.backbone}"
        " --systems {params.systems} {params.serve} --reference {input.reference} --out '{params.out}' > {log} 2>&1"


use rule batching_serve as batching_serve_load with:
    output:
        runs=expand(BATCHING_RUN, system=BATCHING_LOAD_SYSTEMS, allow_missing=True),
        records=expand(BATCHING_RECORDS, system=BATCHING_LOAD_SYSTEMS, allow_missing=True),
    wildcard_constraints:
        workload=r"load[0-9.]+",
    params:
        systems=" ".join(BATCHING_LOAD_SYSTEMS),


rule batching_report:
    input:
        runs=batching_run_outputs(),
        records=BATCHING_RECORDS_FILES,
    output:
        table=f"{TABLES_DIR}/batching.csv",
        markdown=f"{TABLES_DIR}/batching.md",
        verdicts=f"{TABLES_DIR}/{os.path.basename(layout.BATCHING_VERDICTS)}",
        html=report(
            f"{TABLES_DIR}/batching.html",
            caption="../../report/batching/table.rst",
            category=layout.BATCHING_CATEGORY,
            labels={"table": "every run, and baton's ratios"},
        ),
        figures=[
            report(
                f"{PLOTS_DIR}/{layout.BATCHING_PLOT.format(backbone=BATCHING['backbone'], figure=figure)}",
                caption=f"../../report/batching/{figure}.rst",
                category=layout.BATCHING_CATEGORY,
                labels={"figure": figure},
            )
            for figure in layout.BATCHING_FIGURES
        ],
    params:
        tables=lambda wildcards, output: os.path.dirname(output.table),
        plots=lambda wildcards, output: os.path.dirname(output.figures[0]),
    log:
        "logs/batching/report.log",
    message:
        "Tables and figures of the generation-batching runs (the per-request records beside each run give the TTFT and TPOT distributions)"
    localrule: True
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux serve-report --served {input.runs} --tables {params.tables} --plots {params.plots} > {log} 2>&1"
