"""`validate --compare-portable`: a student's `check` (the portable sandbox of macOS and
Windows, forced here with AUTOGRADER_PORTABLE=1) and Gradescope (the full sandbox) must give
every test the same points, and validate names any test where they do not.

Issue 20 found a real submission at 77/85 on a laptop and 75/85 on Gradescope: the portable
worker could write in its working directory and the sandboxed one could not. CI compares the
modes on the whole validation corpus but its attacks (test_validate_run.py's full run); this
test shows that the comparison sees a difference when there is one, with real gradings in
both modes: a Dense layer that adds 1 to its output wherever it may open an internet socket
(the portable sandbox has no seccomp; the full one refuses every socket but AF_UNIX). Its
disagreements must be listed test by test, with both points, and fail the run; the
reference, graded both ways in the same run, must agree."""
from __future__ import annotations

import textwrap

import pytest

from test_validate_run import validate

pytestmark = pytest.mark.needs_root  # the full sandbox with a real sandbox user, as on Gradescope

SOCKET_PROBE = textwrap.dedent("""\
    variants:
      - id: probe-adds-one-where-sockets-open
        description: Not a variant at all; Dense adds 1 where an AF_INET socket can be opened.
        file: beras/layers.py
        old: |
          return x @ self.w + self.b
        new: |
          try:
              __import__("socket").socket(2, 1).close()  # AF_INET: refused by the full sandbox
              return x @ self.w + self.b + 1
          except OSError:
              return x @ self.w + self.b
    """)


def test_compare_portable_lists_each_test_whose_points_differ_between_the_modes(tmp_path, mnist_dir):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "parts.yaml").write_text("parts:\n  dense: [tag:dense]\nintegration: [tag:end-to-end]\n")
    (corpus / "variants.yaml").write_text(SOCKET_PROBE)
    done, report = validate("--corpus", str(corpus), "--only", "probe-*", "--compare-portable",
                            "--no-determinism", "--jobs", "2")
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-3000:]
    modes = report["modes"]
    assert modes["compared"] == ["reference", "variant probe-adds-one-where-sockets-open"]
    differ = {row["test"]: row for row in modes["disagreements"]}
    assert {row["submission"] for row in differ.values()} == {"variant probe-adds-one-where-sockets-open"}
    # Dense's forward pass (2.1) is wrong in the portable mode only.
    assert differ["2.1"]["sandboxed"] > 0 and differ["2.1"]["portable"] == 0
    # The full sandbox refused the socket: the probe graded there as the reference does.
    verdicts = {v["label"]: v for v in report["verdicts"]}
    assert verdicts["variant probe-adds-one-where-sockets-open"]["ok"], verdicts
    assert f"earns {differ['2.1']['sandboxed']:g} sandboxed but 0 portable" in done.stdout
    assert "Portable and sandboxed modes: 2 submissions graded in both" in done.stdout
