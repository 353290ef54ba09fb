rule evaluate:
    input:
        fetched_assets,
        unpack(trained_files),
        **TEACHER_FILES,
    output:
        metrics=f"{RUN_DIR}/{layout.METRICS}",
        predictions=f"{RUN_DIR}/{layout.PREDICTIONS}",
        validation_predictions=f"{RUN_DIR}/{layout.VALIDATION_PREDICTIONS}",
    params:
        data=data_arguments,
        training=training_arguments,
    log:
        "logs/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/evaluate.log",
    message:
        "Evaluating {wildcards.method} N={wildcards.n} P={wildcards.p} seed {wildcards.seed} on {wildcards.task}, {wildcards.backbone}"
    threads: threads_for("evaluate")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} evaluate --task {wildcards.task} --backbone {wildcards.backbone}"
        " --method {wildcards.method} --n {wildcards.n} -p {wildcards.p} --seed {wildcards.seed}"
        " {params.data} {params.training} > {log} 2>&1"
