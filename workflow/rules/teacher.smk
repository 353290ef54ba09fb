rule teacher:
    input:
        fetched_assets,
    output:
        weights="results/{task}/{backbone}/stage0-teacher/teacher.safetensors",
        info="results/{task}/{backbone}/stage0-teacher/teacher.json",
    params:
        data=data_arguments,
        teacher=teacher_arguments,
    log:
        "logs/{task}/{backbone}/teacher.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/teacher.tsv"
    message:
        "Stage 0: teacher for {wildcards.task} on {wildcards.backbone}"
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        "../envs/revmux.yaml"
    shell:
        "python -m revmux --threads {threads} teacher --task {wildcards.task} --backbone {wildcards.backbone}"
        " {params.data} {params.teacher} > {log} 2>&1"
