"""Where the outputs appear in the Snakemake report: the categories the workflow marks its tables and
figures with, and the id of the summary table, which the CI check of the rendered report looks for.
Kept apart from the plotting code so that reading the workflow does not import matplotlib."""

SUMMARY_CATEGORY = "1. Summary table"
SUMMARY_TABLE_ID = "summary-table"
# figure -> its category (numbered so the report lists them in this order)
FIGURES = {
    "accuracy-vs-speedup": "2. Accuracy vs speedup",
    "speedup-vs-n": "3. Speedup vs N",
    "memory-energy-vs-n": "4. Memory and energy",
    "agreement": "5. Agreement with the teacher",
}
