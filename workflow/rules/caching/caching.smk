# The caching and model-selection track (Zhu et al.): the synthetic suite's seeded runs, one job per
# scenario; each model pair of this grid (its runs' predictions and speed profiles) replayed through every
# policy and selector; then the tables and figures. Enable with `caching: {enabled: true}`.
rule caching_suite:
    output:
        CACHING_SUITE,
    params:
        suite=caching_grid.suite_arguments(config),
    log:
        "logs/caching/synthetic-{scenario}.log",
    message:
        "Zhu et al.'s synthetic suite, {wildcards.scenario} table: every cell over {params.suite}"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux cache-suite {params.suite} --scenario {wildcards.scenario} --no-progress"
        " --out {output} > {log} 2>&1"


rule caching_pair:
    input:
        unpack(caching_pair_inputs),
    output:
        [f"{CACHING_PAIR}/{name}" for name in layout.CACHING_PAIR_FILES],
    params:
        pair=caching_pair_arguments,
        out=lambda wildcards, output: os.path.dirname(output[0]),
    log:
        "logs/caching/pair-{pair}.log",
    message:
        "Model pair {wildcards.pair}: per-query costs and correctness, a trained selector, every policy x selector replayed"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux cache-pair {params.pair} --no-progress --out {params.out} > {log} 2>&1"


rule caching_report:
    input:
        suite=expand(CACHING_SUITE, scenario=caching_grid.SCENARIOS),
        pairs=expand(f"{CACHING_PAIR}/replays.csv", pair=caching_grid.pairs(config)),
    output:
        markdown=report(
            f"{TABLES_DIR}/{layout.CACHING_TABLES[0]}",
            caption="../../report/caching/synthetic.rst",
            category=layout.CACHING_CATEGORY,
            labels={"table": "synthetic suite: ours beside the published values"},
        ),
        tables=[f"{TABLES_DIR}/{name}" for name in layout.CACHING_TABLES[1:]],
        figure=report(
            f"{PLOTS_DIR}/{layout.CACHING_PLOT}",
            caption="../../report/caching/ours-vs-published.rst",
            category=layout.CACHING_CATEGORY,
            labels={"figure": "ours vs published"},
        ),
        pair_tables=[f"{TABLES_DIR}/{name}" for name in layout.CACHING_PAIR_TABLES] if caching_grid.pairs(config) else [],
        pair_figures=[
            report(
                f"{PLOTS_DIR}/{layout.CACHING_PAIR_PLOT.format(pair=pair, figure=figure)}",
                caption=f"../../report/caching/{figure}.rst",
                category=layout.CACHING_CATEGORY,
                subcategory=pair,
                labels={"pair": pair, "figure": figure},
            )
            for pair in caching_grid.pairs(config)
            for figure in layout.CACHING_PAIR_FIGURES
        ],
    params:
        tables=lambda wildcards, output: os.path.dirname(output.markdown),
        plots=lambda wildcards, output: os.path.dirname(output.figure),
        pairs=lambda wildcards, input: " ".join(os.path.dirname(path) for path in input.pairs),
    log:
        "logs/caching/report.log",
    message:
        "Tables and figures of the caching track"
    localrule: True
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux cache-report --suite {input.suite} --pairs {params.pairs} --tables {params.tables}"
        " --plots {params.plots} > {log} 2>&1"
