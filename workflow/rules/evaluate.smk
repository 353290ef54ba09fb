rule evaluate:
    input:
        fetched_assets,
        **TEACHER_FILES,
        adapter="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/adapter.pt",
        history="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/history.json",
        dev_selected="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/adapter-dev-selected.pt",
        prefill=prefill_files,
    output:
        metrics="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/metrics.json",
        predictions="results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/predictions.csv.gz",
    params:
        data=data_arguments,
        training=training_arguments,
    log:
        "logs/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/evaluate.log",
    message:
        "Evaluating {wildcards.method} N={wildcards.n} P={wildcards.p} seed {wildcards.seed} on {wildcards.task}, {wildcards.backbone}"
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
    conda:
        "../envs/revmux.yaml"
    shell:
        "python -m revmux --threads {threads} evaluate --task {wildcards.task} --backbone {wildcards.backbone}"
        " --method {wildcards.method} --n {wildcards.n} -p {wildcards.p} --seed {wildcards.seed}"
        " {params.data} {params.training} > {log} 2>&1"
