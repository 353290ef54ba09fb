rule teacher:
    input:
        fetched_assets,
    output:
        weights=TEACHER_FILES["teacher_weights"],
        info=TEACHER_FILES["teacher_info"],
    params:
        data=data_arguments,
        teacher=teacher_arguments,
    log:
        "logs/{task}/{backbone}/teacher-s{seed}.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/teacher-s{seed}.tsv"
    message:
        "Stage 0: teacher seed {wildcards.seed} for {wildcards.task} on {wildcards.backbone}"
    threads: threads_for("teacher")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} teacher --task {wildcards.task} --backbone {wildcards.backbone}"
        " {params.data} {params.teacher} --seed {wildcards.seed} > {log} 2>&1"
