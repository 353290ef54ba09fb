rule train:
    input:
        fetched_assets,
        **TEACHER_FILES,
        prefill=prefill_files,
    output:
        adapter=f"{RUN_DIR}/{layout.ADAPTER}",
        history=f"{RUN_DIR}/{layout.HISTORY}",
        dev_selected=f"{RUN_DIR}/{layout.DEV_SELECTED_ADAPTER}",
    params:
        data=data_arguments,
        training=training_arguments,
    log:
        "logs/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/train.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/train.tsv"
    message:
        "Training {wildcards.method} N={wildcards.n} P={wildcards.p} seed {wildcards.seed} on {wildcards.task}, {wildcards.backbone}"
    threads: threads_for("train")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} train --task {wildcards.task} --backbone {wildcards.backbone}"
        " --method {wildcards.method} --n {wildcards.n} -p {wildcards.p} --seed {wildcards.seed}"
        " {params.data} {params.training} > {log} 2>&1"
