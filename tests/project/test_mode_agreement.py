"""A student's `check` (the portable sandbox of macOS and Windows, forced here with
AUTOGRADER_PORTABLE=1) and Gradescope (the full sandbox) give every test the same points.

Issue 20 found a real submission at 77/85 on a laptop and 75/85 on Gradescope: the portable
worker could write in its working directory and the sandboxed one could not. Both now run in
a private writable copy of the submission; this grades, in both modes, a representative set
that CI can afford (each grading of the whole suite takes 10-30 s): the reference, the
handout, mutants of different parts (numerics, the tape, the training path, the handout's
preprocessing), and a submission whose `evaluate` saves its predictions in its current
directory and reads them back. The whole validation corpus in both modes would be ~140
gradings, more than CI's budget allows, so CI compares this subset (README, "Isolation")."""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder.validate.corpus import load_corpus, materialise
from engine_cases import harness

pytestmark = pytest.mark.needs_root  # the full sandbox with a real sandbox user, as on Gradescope

MUTANTS = ("sigmoid-overflows", "tape-keyed-by-value", "assignment-learning-rate-too-small",
           "width-normalize-not-centred")
SAVES_IN_CWD = ("        return metrics, Tensor(np.concatenate(predictions))\n",
                "        np.save(\"predictions.npy\", np.concatenate(predictions))  # as the handout suggests\n"
                "        return metrics, Tensor(np.load(\"predictions.npy\"))\n")
MODES = {"gradescope": {}, "portable": {"AUTOGRADER_PORTABLE": "1"}}


def submissions(project_root: Path, top: Path) -> dict[str, Path]:
    bases = {"reference": project_root / "reference", "template": project_root / "student_template"}
    found = {"reference": bases["reference"], "template": bases["template"]}
    corpus = load_corpus(project_root / "validation")
    for case in corpus.of_kind("mutant"):
        if case.id in MUTANTS:
            found[case.id] = materialise(case, bases, top / case.id)
    saver = top / "saves-predictions-in-cwd"
    shutil.copytree(bases["reference"], saver, ignore=shutil.ignore_patterns("__pycache__"))
    model = saver / "beras" / "model.py"
    old, new = SAVES_IN_CWD
    assert old in model.read_text(), "the reference's evaluate changed: update SAVES_IN_CWD"
    model.write_text(model.read_text().replace(old, new))
    found[saver.name] = saver
    assert set(found) == {"reference", "template", *MUTANTS, saver.name}
    return found


def points(doc: dict) -> dict[str, float]:
    return {t.get("number") or t["name"]: t["score"] for t in doc["tests"]}


def test_portable_and_sandboxed_grades_agree_test_by_test(project_root, mnist_dir):
    top = harness.public_tmp()
    try:
        subs = submissions(project_root, top)

        def grade(job):
            name, mode = job
            out = top / f"{name}.{mode}.json"
            proc = harness.engine("grade", subs[name], "--out", out, timeout=900,
                                  env={**MODES[mode], "BERAS_MNIST_DIR": str(mnist_dir),
                                       "AUTOGRADER_SANDBOX_USER": f"ag-agree-{mode}"})
            assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
            assert ("sandbox: PORTABLE" in proc.stdout) == (mode == "portable"), proc.stdout[-2000:]
            return job, harness.validate(json.loads(out.read_text()))

        jobs = [(name, mode) for name in subs for mode in MODES]
        with ThreadPoolExecutor(max_workers=2) as pool:
            docs = dict(pool.map(grade, jobs))
    finally:
        shutil.rmtree(top, ignore_errors=True)

    for name in subs:
        full, portable = (docs[name, mode] for mode in MODES)
        for doc in (full, portable):
            assert not doc["output"].startswith(("**Grader error", "**Grading did not finish")), (name, doc["output"][:2000])
        differ = {n: (points(full)[n], points(portable).get(n)) for n in points(full)
                  if points(full)[n] != points(portable).get(n)}
        assert differ == {} and set(points(full)) == set(points(portable)), (name, differ)
    assert docs["reference", "gradescope"]["score"] == 100 == docs["saves-predictions-in-cwd", "gradescope"]["score"]
    assert docs["template", "gradescope"]["score"] == 0
    for mutant in MUTANTS:
        assert docs[mutant, "gradescope"]["score"] < 100, mutant
