"""Bench row: the full grade of a correct but loop-heavy submission on 60,000 training images, one core.

    python3 dev.py run bench/loop_heavy_training.py [--cpu 0] [--out FILE.json]

Real submissions loop over the samples of a batch in the Softmax Jacobian or the tape
(/work/shared/beras-api.md, "What real past submissions do"); 12.1's training budget must
fit Gradescope (0.5 vCPU, 20 s per call) for them. The submission is the reference with the
edits of two correct variants of validation/variants.yaml: `softmax-jacobian-triple-loop`
and `tape-walk-per-source` (the handout's per-sample compose loops, the graph walked again
for every source). MNIST is what Gradescope has: 60,000 training images, here the shared
10,000 test images tiled six times (timing only; the 12.1 score then measures accuracy on
images it trained on, so only its time is meaningful, its score must simply be full).

The grade runs pinned to one core (taskset), as `python -m autograder grade` does in CI;
Gradescope's 0.5 vCPU makes every figure about twice as long. Printed: the total wall time,
the total score, 12.1's score, the wall time of a grade of 12.1 alone (an upper bound of its
duration) and so of one `fit` call (12.1 makes EPOCHS * TRAIN_IMAGES / CHUNK_IMAGES of them),
doubled for 0.5 vCPU against the 20 s limit.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "graded"))
sys.path.insert(0, str(REPO / "tests" / "graded" / "hidden"))

import idx  # noqa: E402  (tests/graded/idx.py: IDX files, written)
import test_training as budget  # noqa: E402  (12.1's EPOCHS, TRAIN_IMAGES, CHUNK_IMAGES)
from autograder.validate.corpus import Case, load_corpus, materialise  # noqa: E402

VARIANTS = ("softmax-jacobian-triple-loop", "tape-walk-per-source")
TILES = 6
SHARED_MNIST = Path(os.environ.get("BERAS_MNIST_DIR", "/work/shared/data/mnist"))


def loop_heavy_submission(dest: Path) -> Path:
    corpus = load_corpus(REPO / "validation")
    chosen = [case for case in corpus.of_kind("variant") if case.id in VARIANTS]
    assert len(chosen) == len(VARIANTS), "a bench variant is missing from validation/variants.yaml"
    edits = [edit for case in chosen for edit in case.edits]
    case = Case(kind="variant", id="loop-heavy", description="bench", source="bench", edits=edits)
    return materialise(case, {"reference": REPO / "reference"}, dest)


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def tiled_mnist(dest: Path) -> Path:
    """dest holding the shared test files, and training files of the test images tiled TILES times."""
    dest.mkdir(parents=True, exist_ok=True)
    images = labels = None
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        source = next(p for p in (SHARED_MNIST / (stem + ".gz"), SHARED_MNIST / stem) if p.is_file())
        shutil.copy(source, dest / source.name)
        array = read_idx(source)
        if stem.startswith("t10k-images"):
            images = array
        else:
            labels = array
    for stem, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        tiled = np.concatenate([array] * TILES)
        with gzip.open(dest / (stem + ".gz"), "wb", compresslevel=1) as file:
            file.write(idx.encode(tiled))
    return dest


def grade(submission: Path, env: dict, cpu: str, results: Path, pytest_args=()) -> tuple[float, dict]:
    """(wall seconds, results.json) of one `python -m autograder grade` pinned to `cpu`."""
    cmd = ["taskset", "-c", cpu, sys.executable, "-m", "autograder", "grade", str(submission),
           "--out", str(results), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd + (["--", *pytest_args] if pytest_args else []), cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not results.is_file():
        raise SystemExit(f"no results.json:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, json.loads(results.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", default="0", help="the core to pin the grade to (taskset -c)")
    parser.add_argument("--out", help="also write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-loop-heavy-") as tmp:
        tmp = Path(tmp)
        submission = loop_heavy_submission(tmp / "submission")
        mnist = tiled_mnist(tmp / "mnist")
        env = dict(os.environ, BERAS_MNIST_DIR=str(mnist))
        env.setdefault("AUTOGRADER_SANDBOX_USER", "beras-bench")
        wall, doc = grade(submission, env, args.cpu, tmp / "full.json")
        # 12.1 alone: its time, plus one grading's start-up (so an upper bound).
        training_wall, _ = grade(submission, env, args.cpu, tmp / "training.json",
                                 ["-k", "test_end_to_end_training_accuracy"])
    test = next(t for t in doc["tests"] if t.get("number") == "12.1")
    calls = budget.EPOCHS * budget.TRAIN_IMAGES // budget.CHUNK_IMAGES
    figures = {
        "submission": " + ".join(VARIANTS), "training images available": 10000 * TILES,
        "cpu": args.cpu, "full grade wall s": round(wall, 1), "score": doc.get("score"),
        "12.1 score": f"{test.get('score')}/{test.get('max_score')}",
        "12.1 alone wall s (upper bound)": round(training_wall, 1), "fit calls": calls,
        "s per fit call (upper bound)": round(training_wall / calls, 2),
        "s per fit call at 0.5 vCPU (x2)": round(2 * training_wall / calls, 2),
        "full grade at 0.5 vCPU (x2)": round(2 * wall, 1),
    }
    for key, value in figures.items():
        print(f"{key:34} {value}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if test.get("score") == test.get("max_score") else 1


if __name__ == "__main__":
    sys.exit(main())
