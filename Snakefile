# Entry point of the RevMUX workflow: `snakemake --cores N` from the repository root.
# The stages live in workflow/rules/*.smk; this file only wires them together.
from snakemake.utils import min_version

min_version("9.21")


include: "workflow/rules/assets.smk"


rule all:
    default_target: True
    input:
        "resources/models/minilm-l6/.revmux-asset.json",
        "resources/data/rt-polarity/.revmux-asset.json",
