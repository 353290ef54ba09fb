rule prefill:
    input:
        fetched_assets,
        **TEACHER_FILES,
    output:
        expand(PREFILL, split=SPLITS, allow_missing=True),
    params:
        data=data_arguments,
    log:
        "logs/{task}/{backbone}/prefill-p{p}-s{seed}.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/prefill-p{p}-s{seed}.tsv"
    message:
        "Layer-{wildcards.p} and teacher states of {wildcards.task} on {wildcards.backbone}, seed {wildcards.seed}, shared by every method and N"
    threads: threads_for("prefill")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} prefill --task {wildcards.task} --backbone {wildcards.backbone}"
        " -p {wildcards.p} --seed {wildcards.seed} {params.data} > {log} 2>&1"
