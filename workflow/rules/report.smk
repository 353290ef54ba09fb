# From results to what people read: tables (aggregate), figures (plots), and the outputs the HTML
# report shows (marked with report(...); captions in workflow/report/). Build the page with
#   snakemake --report reports/report.html        (make run does it after the run)
# The report holds every report(...) output of the jobs the run's targets need: each enabled track's
# (multiplexing here, batching and caching in their rules files) on one page, by category.

# What the training curves are drawn from: the history of each run of the grid that the train rule makes (a
# quantized method's runs reuse its plain method's training, drawn when that method is in the grid).
TRAINED_RUNS = GRID[GRID["method"].isin(revmux_grid.methods_trained_by(config, "train"))]
HISTORY_FILES = expand(f"{RUN_DIR}/{layout.HISTORY}", zip, **TRAINED_RUNS.to_dict("list"))


rule aggregate:
    input:
        metrics=metrics_outputs(),
        speed=speed_outputs(),
        reference=reference_values(),
    output:
        runs=f"{TABLES_DIR}/runs.csv",
        speed=f"{TABLES_DIR}/speed.csv",
        summary=f"{TABLES_DIR}/summary.csv",
        markdown=f"{TABLES_DIR}/summary.md",
        verdicts=f"{TABLES_DIR}/verdicts.md",
        latex=f"{TABLES_DIR}/summary.tex",
        provenance=f"{TABLES_DIR}/provenance.json",
        html=report(
            f"{TABLES_DIR}/summary.html",
            caption="../report/multiplexing/summary.rst",
            category=layout.SUMMARY_CATEGORY,
            labels={"table": "accuracy, paired change, speed, memory, energy, verdicts"},
        ),
    params:
        tables=lambda wildcards, output: os.path.dirname(output.summary),
        reference=reference_arguments(),
    log:
        "logs/aggregate.log",
    message:
        "Aggregating this grid's metrics.json and speed measurements into {params.tables}/"
    localrule: True
    conda:
        ENVIRONMENT
    shell:
        # Exactly this grid's files: runs of an earlier configuration in results/ stay out.
        "$REVMUX_PYTHON -m revmux aggregate --metrics {input.metrics} --speed {input.speed}"
        " --out {params.tables} {params.reference} > {log} 2>&1"


rule plots:
    input:
        summary=f"{TABLES_DIR}/summary.csv",
        speed=f"{TABLES_DIR}/speed.csv",
        history=HISTORY_FILES,
    output:
        [
            report(
                f"{PLOTS_DIR}/{layout.PLOT_FILE.format(backbone=backbone, figure=figure)}",
                caption=f"../report/multiplexing/{figure}.rst",
                category=category,
                subcategory=backbone,
                labels={"backbone": backbone, "figure": figure},
            )
            for backbone in config["backbones"]
            for figure, category in PLOT_CATEGORIES.items()
        ],
    params:
        backbones=" ".join(f"--backbone {backbone}" for backbone in config["backbones"]),
        tables=lambda wildcards, input: os.path.dirname(input.summary),
        plots=lambda wildcards, output: os.path.dirname(output[0]),
    log:
        "logs/plots.log",
    message:
        "Drawing the accuracy-speed figures and the training curves into {params.plots}/"
    localrule: True
    conda:
        ENVIRONMENT
    shell:
        # Exactly this grid's histories, as aggregate reads exactly its metrics.
        "$REVMUX_PYTHON -m revmux plots --tables {params.tables} --history {input.history} --out {params.plots}"
        " {params.backbones} > {log} 2>&1"
