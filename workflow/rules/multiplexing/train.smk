rule train:
    wildcard_constraints:
        method=trained_by_pattern("train"),
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


# Truncation (method truncate): its own stage 0, the teacher's recipe on the first layers only, in its run
# directory; `revmux teacher --truncate N P` picks the depth (N = 1: P layers; else RevMUX's counted FLOPs).
# Where the teacher fine-tunes the whole backbone, the truncation starts from that seed's teacher.
rule truncation:
    wildcard_constraints:
        method=trained_by_pattern("truncation"),
    input:
        fetched_assets,
        unpack(truncation_start_files),
    output:
        weights=f"{RUN_DIR}/{layout.TEACHER_WEIGHTS}",
        info=f"{RUN_DIR}/{layout.TEACHER_INFO}",
    params:
        data=data_arguments,
        teacher=truncation_arguments,
        out=lambda wildcards, output: os.path.dirname(output.info),
    log:
        "logs/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/truncation.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/truncation.tsv"
    message:
        "Stage 0 of {wildcards.method} N={wildcards.n} P={wildcards.p} seed {wildcards.seed} on {wildcards.task}, {wildcards.backbone}"
    threads: threads_for("truncation")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} teacher --task {wildcards.task} --backbone {wildcards.backbone}"
        " {params.data} {params.teacher} --seed {wildcards.seed} --truncate {wildcards.n} {wildcards.p}"
        " --out {params.out} > {log} 2>&1"
