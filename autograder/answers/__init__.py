"""Does the student kit hold an answer? Two checks of the Python files that go to students.

1. Equivalence (fails the build): every reference solution region (the lines between
   `# BEGIN SOLUTION` and `# END SOLUTION`, see template.py) is parsed and normalised:
   docstrings dropped, every name (locals, arguments, modules) renamed by order of first
   use, numbers compared as floats, attribute chains (`self.w`) as one name, `np.newaxis`
   as None, and array conversions (`np.asarray(x)`, `np.array(x, dtype=float)`, and any
   function of the same file that only converts its argument, e.g. a `plain(v)` helper) as
   their argument. Each function of the kit is normalised the same way, and every run of
   consecutive statements of its body is compared with each region. A renamed,
   reformatted or re-wrapped copy of a solution is then the same tree. Regions too small to
   be an answer (`return self.w`) are not compared: they would match innocent code.
2. Fingerprints (fail the build too): textual patterns of closed forms of the homework's
   parts (exp-normalise, the sigmoid and its derivative, a softmax Jacobian, MSE,
   cross-entropy, one-hot rows of an identity, RMSProp/Adam's second moment), in every
   function and in module-level code (a lambda in a table), strings blanked; and structural
   patterns of the syntax tree, conversions stripped as above, for forms too short for
   text: an affine map `x @ w + b` (Dense's forward), a per-sample `x[:, :, None]` given as
   a value (Dense's weight gradient), a gradient-descent step `p -= lr * g` (SGD). They
   catch an oracle written differently from the reference, under any names. The suite's public tests name expected
   values through tests/graded/judge.py (closed forms stay in the hidden folder), so the kit
   has none; a finding is an answer about to ship, or code to reword.
"""
from __future__ import annotations

from autograder.answers.equivalence import Match, Region, equivalent_functions, solution_regions
from autograder.answers.formulas import (AFFINE, DESCENT_STEP, FINGERPRINTS, PER_SAMPLE_INPUT, STRUCTURAL,
                                         Fingerprint, closed_forms_in, fingerprints, formulas_in,
                                         structural_forms_in)
from autograder.answers.normalise import CONVERSIONS, local_conversions, normalised
from autograder.answers.reach import reachable, referenced_names

__all__ = ["AFFINE", "CONVERSIONS", "DESCENT_STEP", "FINGERPRINTS", "PER_SAMPLE_INPUT", "STRUCTURAL",
           "Fingerprint", "Match", "Region", "closed_forms_in", "equivalent_functions", "fingerprints",
           "formulas_in", "local_conversions", "normalised", "reachable", "referenced_names",
           "solution_regions", "structural_forms_in"]
