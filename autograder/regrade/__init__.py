"""The TA tools around a Gradescope export (`python -m autograder regrade|merge|diff|report`):

    layout.py    the output folder's file names, columns and statuses
    export.py    reading the export (zip or folder, metadata YAML), shards, fingerprints
    run.py       grading it on job slots, resume, run.json (progress.py: the bar and log lines)
    tables.py    rows, scores.csv, summary.json (rebuilt from the folders: deterministic)
    merge.py     joining shard outputs
    diff.py      comparing two regrades, or a regrade with the export
    report.py    the HTML class report (charts.py: its PNG charts; findings.py: what it flags)
    cli.py       configure()/run() of regrade and merge

Generic helpers come from autograder.atomic, autograder.batch and autograder.results, never
from here.
"""
