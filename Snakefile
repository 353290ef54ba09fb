# The RevMUX workflow: `snakemake --cores 2` runs the default configuration (config/config.yaml).
# Stages: fetch assets -> stage-0 teacher -> shared layer-P cache -> train -> evaluate; profile times
# each multiplexing method against the teacher; aggregate and plots feed the HTML report
# (`snakemake --report reports/report.html`).
# Shared rules live in workflow/rules/, each track's in workflow/rules/<track>/; every rule calls
# `python -m revmux <verb>`, so any job can be rerun and debugged by hand with the command in its log.
from snakemake.utils import min_version

min_version("9.21")


report: "workflow/report/workflow.rst"


# The default configuration; --configfile files and --config values overlay it (workflow/rules/common.smk
# says how).
configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/assets.smk"
include: "workflow/rules/multiplexing/teacher.smk"
include: "workflow/rules/multiplexing/prefill.smk"
include: "workflow/rules/multiplexing/train.smk"
include: "workflow/rules/multiplexing/evaluate.smk"
include: "workflow/rules/multiplexing/speed.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/batching/batching.smk"
include: "workflow/rules/caching/caching.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        report_outputs(),
        batching_outputs(),
        caching_outputs(),
