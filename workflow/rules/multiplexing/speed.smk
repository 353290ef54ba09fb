# Timing jobs: the teacher and one multiplexing method side by side in one process. Locally a timing job
# claims every core (timing_reservation), so that no other job runs beside a measurement, and measures at
# the speed rule's threads; the bench_slot resource keeps two of them apart wherever cores are not the
# limit. On SLURM, profiles/slurm asks for whole nodes instead.
rule speed:
    input:
        backbone="resources/fetched/backbone-{backbone}.done",
    output:
        SPEED_FILE,
    params:
        profile=speed_arguments,
        threads=threads_for("speed"),
    log:
        "logs/speed/{backbone}/{method}-n{n}-p{p}-b{batch}-len{length}.log",
    message:
        "Timing {wildcards.method} N={wildcards.n} P={wildcards.p} against the teacher on {wildcards.backbone}"
        " (batch {wildcards.batch}, length {wildcards.length}; {params.threads} threads, {threads} cores held)"
    threads: timing_reservation("speed")
    resources:
        mem_mb=config["resources"]["mem_mb"],
        runtime=config["resources"]["runtime"],
        gpu=1 if USES_GPU else 0,
        bench_slot=1,
    conda:
        ENVIRONMENT
    shell:
        "$REVMUX_PYTHON -m revmux --threads {params.threads} speed --backbone {wildcards.backbone} --method {wildcards.method}"
        " --n {wildcards.n} -p {wildcards.p} --batch-size {wildcards.batch} --length {wildcards.length}"
        " {params.profile} --no-progress --out {output} > {log} 2>&1"


rule speed_all:
    """Only the timing jobs of the configuration (nothing is trained): `snakemake speed_all`."""
    input:
        speed_outputs(),
