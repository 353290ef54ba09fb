# From results to what people read: tables (aggregate), figures (plots), and the outputs the HTML
# report shows (marked with report(...); captions in workflow/report/). Build the page with
#   snakemake --report reports/report.html        (make run does it after the run)
rule aggregate:
    input:
        metrics=metrics_outputs(),
        profiles=profile_outputs(),
    output:
        runs="results/tables/runs.csv",
        profiles="results/tables/profiles.csv",
        summary="results/tables/summary.csv",
        markdown="results/tables/summary.md",
        latex="results/tables/summary.tex",
        provenance="results/tables/provenance.json",
        html=report(
            "results/tables/summary.html",
            caption="../report/summary.rst",
            category=report_layout.SUMMARY_CATEGORY,
            labels={"table": "accuracy, paired change, speed, memory, energy"},
        ),
    log:
        "logs/aggregate.log",
    message:
        "Aggregating this grid's metrics.json and profiles into results/tables/"
    localrule: True
    conda:
        "../envs/revmux.yaml"
    shell:
        # Exactly this grid's files: runs of an earlier configuration in results/ stay out.
        "python -m revmux aggregate --metrics {input.metrics} --profiles {input.profiles} --out results/tables > {log} 2>&1"


rule plots:
    input:
        summary="results/tables/summary.csv",
        profiles="results/tables/profiles.csv",
    output:
        [
            report(
                f"results/plots/{backbone}-{figure}.svg",
                caption=f"../report/{figure}.rst",
                category=category,
                subcategory=backbone,
                labels={"backbone": backbone, "figure": figure},
            )
            for backbone in config["backbones"]
            for figure, category in PLOT_CATEGORIES.items()
        ],
    params:
        backbones=" ".join(f"--backbone {backbone}" for backbone in config["backbones"]),
    log:
        "logs/plots.log",
    message:
        "Drawing the accuracy-speed figures into results/plots/"
    localrule: True
    conda:
        "../envs/revmux.yaml"
    shell:
        "python -m revmux plots --tables results/tables --out results/plots {params.backbones} > {log} 2>&1"
