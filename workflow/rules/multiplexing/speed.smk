# Timing jobs: the teacher and one multiplexing method side by side in one process. They take the
# bench_slot resource, so that with `--resources bench_slot=1` (set in profiles/default) no two
# measured jobs share a machine; on SLURM, profiles/slurm asks for whole nodes instead.
rule speed:
    input:
        backbone="resources/fetched/backbone-{backbone}.done",
    output:
        SPEED_FILE,
    params:
        profile=speed_arguments,
    log:
        "logs/speed/{backbone}/{method}-n{n}-p{p}-b{batch}-len{length}.log",
    message:
        "Timing {wildcards.method} N={wildcards.n} P={wildcards.p} against the teacher on {wildcards.backbone}"
        " (batch {wildcards.batch}, length {wildcards.length})"
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
        bench_slot=1,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {threads} speed --backbone {wildcards.backbone} --method {wildcards.method}"
        " --n {wildcards.n} -p {wildcards.p} --batch-size {wildcards.batch} --length {wildcards.length}"
        " {params.profile} --no-progress --out {output} > {log} 2>&1"


rule speed_all:
    """Only the timing jobs of the configuration (nothing is trained): `snakemake speed_all`."""
    input:
        speed_outputs(),
