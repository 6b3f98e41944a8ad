#!/usr/bin/env bash
# Gradescope image build: runs once per assignment, as root, from the unzipped autograder.
#
#   AUTOGRADER_ROOT  the Gradescope root (default /autograder): source/ results/ below it
#   BERAS_VENV       the Python environment to create (default /opt/beras-autograder/venv)
#   AUTOGRADER_SANDBOX_USER  a fixed user to run student code (default: one made per grading)
#   AUTOGRADER_SKIP_DATA=1   do not try to download MNIST (offline tests)
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export BERAS_VENV="${BERAS_VENV:-/opt/beras-autograder/venv}"
cd "$SOURCE"

# 1. Python dependencies, in a venv built from the system python3 (Gradescope's harness keeps
#    its own python3 untouched) in a world-readable place, so the sandbox user can run it.
#    dev.py installs only when the venv does not already match pyproject.toml, and only what
#    grading needs (pyproject's `dependencies`, never the `dev` extras).
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  echo "setup.sh: installing python3-venv"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
fi
python3 dev.py setup
PY="$BERAS_VENV/bin/python"

# 2. The sandbox user, and nothing of ours readable by it: the reference and hidden tests
#    live in source/, results in results/.
#    Unless AUTOGRADER_SANDBOX_USER names one, no sandbox user is made here: each grading
#    makes its own, with a uid drawn at random (Docker shares per-uid kernel accounting such
#    as RLIMIT_NPROC between the containers of a host). Checked now: one can be made and can
#    run the venv.
"$PY" - <<'CHECKUSER'
import os, sys
from autograder.sandbox.layers.sandbox_user import (check_interpreter_runnable, create_grading_user,
                                                   ensure_sandbox_user, remove_grading_user)
if os.environ.get("AUTOGRADER_SANDBOX_USER"):
    print("setup.sh: sandbox user", ensure_sandbox_user().pw_name)
    sys.exit(0)
user = create_grading_user()
try:
    check_interpreter_runnable(sys.executable, user)
finally:
    remove_grading_user(user.pw_name)
print(f"setup.sh: a sandbox user is made per grading, with a random uid (checked with uid {user.pw_uid})")
CHECKUSER
mkdir -p "$ROOT/results"
chown root:root "$SOURCE" "$ROOT/results"
chmod 700 "$SOURCE" "$ROOT/results"
# The root itself stays traversable (Gradescope's own layout); submission/ is readable.
chmod 755 "$ROOT"

# 3. MNIST for the graded suite. `build` bundles the four files into source/data/mnist, so
#    nothing is downloaded; a zip built with --allow-fallback-data may lack them, and then
#    we try to download them (best effort: grading otherwise falls back, and says so).
MNIST="$SOURCE/data/mnist"
missing=""
for stem in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$MNIST/$stem.gz" ] || [ -f "$MNIST/$stem" ] || missing="$missing $stem"
done
if [ -z "$missing" ]; then
  echo "setup.sh: MNIST bundled in the zip ($MNIST)"
elif [ "${AUTOGRADER_SKIP_DATA:-0}" != "1" ]; then
  echo "setup.sh: WARNING: autograder.zip lacks MNIST files:$missing; downloading them"
  PREPROCESS="$("$PY" -c "from autograder.grading import load_course; print(load_course().template / 'preprocess.py')")"
  if [ -f "$PREPROCESS" ]; then
    "$PY" "$PREPROCESS" --download "$MNIST" \
      || echo "setup.sh: WARNING: MNIST download failed; grading will use its FALLBACK data and say so"
  fi
else
  echo "setup.sh: WARNING: autograder.zip lacks MNIST files:$missing (AUTOGRADER_SKIP_DATA=1: no download)"
fi
echo "setup.sh: done"
