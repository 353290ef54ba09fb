# Fetching needs the network; compute nodes of a cluster may have none, so it runs on the head node.
localrules:
    fetch_backbone,
    fetch_task,


rule fetch_backbone:
    output:
        "resources/models/{backbone}/.revmux-asset.json",
    log:
        "logs/fetch/backbone-{backbone}.log",
    message:
        "Fetching backbone {wildcards.backbone}"
    shell:
        "python -m revmux fetch {wildcards.backbone} --resources resources > {log} 2>&1"


rule fetch_task:
    output:
        "resources/data/{task}/.revmux-asset.json",
    log:
        "logs/fetch/task-{task}.log",
    message:
        "Fetching the files of task {wildcards.task}"
    shell:
        "python -m revmux fetch {wildcards.task} --resources resources > {log} 2>&1"
