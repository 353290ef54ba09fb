# Fetching needs the network; compute nodes of a cluster may have none, so it runs where snakemake runs.
localrules:
    fetch_backbone,
    fetch_task,


rule fetch_backbone:
    output:
        touch("resources/fetched/backbone-{backbone}.done"),
    log:
        "logs/fetch/backbone-{backbone}.log",
    message:
        "Fetching backbone {wildcards.backbone}"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux fetch {wildcards.backbone} > {log} 2>&1"


rule fetch_task:
    output:
        touch("resources/fetched/task-{task}.done"),
    params:
        source=task_source,
    log:
        "logs/fetch/task-{task}.log",
    message:
        "Fetching the files of task {wildcards.task} ({params.source})"
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux fetch {wildcards.task} --source {params.source} > {log} 2>&1"
