rule train:
    input:
        fetched_assets,
        **TEACHER_FILES,
        prefill=prefill_files,
    output:
        adapter="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/adapter.pt",
        history="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/history.json",
        dev_selected="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/adapter-dev-selected.pt",
    params:
        data=data_arguments,
        training=training_arguments,
    log:
        "logs/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/train.log",
    benchmark:
        "logs/benchmarks/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/train.tsv"
    message:
        "Training {wildcards.method} N={wildcards.n} P={wildcards.p} seed {wildcards.seed} on {wildcards.task}, {wildcards.backbone}"
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        "../envs/revmux.yaml"
    shell:
        "python -m revmux --threads {threads} train --task {wildcards.task} --backbone {wildcards.backbone}"
        " --method {wildcards.method} --n {wildcards.n} -p {wildcards.p} --seed {wildcards.seed}"
        " {params.data} {params.training} > {log} 2>&1"
