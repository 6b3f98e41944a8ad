"""The layout of a regrade output folder, which every TA tool reads and writes:

    DIR/<submission>/results.json   the engine's results, as Gradescope would get them
    DIR/<submission>/regrade.json   our record: students, status, exported score, duration, options
    DIR/scores.csv                  one row per submission, one column per test
    DIR/summary.json                class statistics; deterministic for a given set of results
    DIR/run.json                    how this folder was produced (jobs, shard, timing, assignment)
"""
from __future__ import annotations

METADATA_NAME = "submission_metadata.yml"  # in Gradescope's export, not in our output
RESULTS_NAME = "results.json"
RECORD_NAME = "regrade.json"
SCORES_NAME = "scores.csv"
SUMMARY_NAME = "summary.json"
RUN_NAME = "run.json"

# Columns of scores.csv before the one-per-test columns (diff reads them by name). The
# score Gradescope had at export stands beside the regraded total.
FIXED_COLUMNS = ("submission_id", "names", "emails", "sids", "status", "exported_score", "total", "max_score")

# A submission's status in its regrade.json and in scores.csv.
GRADED = "graded"
NOT_GRADED = "not_graded"
MISSING = "missing"  # listed in the metadata, but no folder in the export
