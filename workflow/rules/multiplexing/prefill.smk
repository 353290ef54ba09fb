rule prefill:
    input:
        fetched_assets,
        **TEACHER_FILES,
    output:
        expand(PREFILL, split=SPLITS, allow_missing=True),
    params:
        data=data_arguments,
    log:
        "logs/{task}/{backbone}/prefill-p{p}.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/prefill-p{p}.tsv"
    message:
        "Layer-{wildcards.p} and teacher states of {wildcards.task} on {wildcards.backbone}, shared by every method, N and seed"
    threads: threads_for("prefill")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} prefill --task {wildcards.task} --backbone {wildcards.backbone}"
        " -p {wildcards.p} {params.data} > {log} 2>&1"
