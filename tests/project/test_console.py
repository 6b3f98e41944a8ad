"""The student's terminal (issue 20): `check` under a legacy encoding, at 80 columns, in a
pseudo-terminal, and stopped with Ctrl-C. Each drives the real command on a real submission
and reads what it printed."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from autograder import console
from autograder.commands.grade import summary_table
from autograder.terminal_md import inline, render

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DENSE_BUG = ("beras/layers.py", "        return x @ self.w + self.b\n",
             "        return x @ self.w.T + self.b  # oops: w is (input_size, output_size)\n")
SIGMOID_LOOP = ("beras/activations.py", "        e = np.exp(-np.abs(x))\n",
                "        while True:\n            pass\n")


def submission(reference_dir: Path, target: Path, *edits: tuple[str, str, str]) -> Path:
    shutil.copytree(reference_dir, target, ignore=shutil.ignore_patterns("__pycache__", "predictions.npy"))
    for file, old, new in edits:
        text = (target / file).read_text()
        assert text.count(old) == 1, (file, old)
        (target / file).write_text(text.replace(old, new))
    return target


def check_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PYTHONIOENCODING")}
    env.update(extra)
    return env


# ---------------------------------------------------------------- pure functions


def test_markdown_becomes_plain_text_around_code_spans():
    assert inline("**Your submission has no `beras/losses.py`**, which this test needs.") == \
        "Your submission has no beras/losses.py, which this test needs."
    assert inline("`trainable` survives *views* and `x ** 2`") == "trainable survives views and x ** 2"
    assert render("**Grader error.** see `a*b`\n```\n**kept**\n```") == "Grader error. see a*b\n    **kept**"


def test_words_are_wrapped_never_cut():
    line = "ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0, with keepdims=True"
    wrapped = console.wrap("    " + line, 40).splitlines()
    assert all(len(l) <= 40 for l in wrapped)
    assert " ".join(w.strip() for w in wrapped) == line  # every word whole, in order
    assert console.shorten("8.6 batch_step trains only the trainable variables", 30) == "8.6 batch_step trains only..."


def test_characters_a_legacy_encoding_lacks_are_spelled_in_ascii():
    text = "x·exp(-(x²+y²)) reaches (-1/√2, 0) ± 1e-3 ─│ σ"
    spelled = console.for_encoding(text, "cp1252")
    spelled.encode("cp1252")  # never raises
    assert "sqrt2" in spelled and "-|" in spelled and "sigma" in spelled and "±" in spelled
    assert console.for_encoding(text, "ascii") == "x*exp(-(x^2+y^2)) reaches (-1/sqrt2, 0) +/- 1e-3 -| sigma"


def test_the_table_fits_80_columns_and_comes_last():
    long_name = "a test whose name is far longer than any terminal of eighty columns could show on one line"
    doc = {"score": 1, "output": "**1 / 3 points**; 1 of 2 tests passed.\n\n**Note:** `√` kept",
           "tests": [{"name": "`trainable` survives **views**", "number": "1.1", "score": 1, "max_score": 1,
                      "status": "passed", "output": ""},
                     {"name": long_name, "number": "1.2", "score": 0, "max_score": 2, "status": "failed",
                      "output": "**Wrong** " + "word " * 60}]}
    text = summary_table(doc, details=True, width=80)
    lines = text.splitlines()
    assert all(len(l) <= 80 for l in lines), [l for l in lines if len(l) > 80]
    assert "**" not in text and "`" not in text
    assert lines[-1] == "score 1 / 3   (1 of 2 tests passed)"
    assert text.index("== 1.2") < text.index("#    test") < text.index("1.1  trainable survives views")
    assert "points**" not in text and text.count("1 / 3") == 1  # the score, once


# ---------------------------------------------------------------- the real command


def test_check_under_cp1252_at_80_columns(reference_dir, tmp_path):
    sub = submission(reference_dir, tmp_path / "sub", DENSE_BUG)
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(sub)], cwd=PROJECT_ROOT,
                          env=check_env(PYTHONIOENCODING="cp1252"), capture_output=True, timeout=600)
    out, err = proc.stdout.decode("cp1252"), proc.stderr.decode("cp1252")
    assert proc.returncode == 1, out[-3000:] + err[-3000:]
    assert "Traceback (most recent call last)" not in out + err and "UnicodeEncodeError" not in out + err
    assert "sqrt2" in out and "√" not in out  # cp1252 has no √: spelled in ASCII
    for line in (out + err).splitlines():  # no terminal: 80 columns
        assert len(line) <= 80 or str(sub) in line, line  # (a path is one word)
    table = out[out.index("#     test"):]
    assert not re.search(r"\*\*[A-Z]|[a-z.]\*\*(\s|$)", out) and "`" not in table  # (`**kwargs` is code)
    assert out.index("== 2.1 Dense forward") < out.index("#     test")  # the table last
    assert len(re.findall(r"\b\d+ / 85\b", out)) == 1  # the score once
    assert "more lines in results.json" not in out  # there is no results.json without --out
    # Dense's one mistake fails 2.1-2.4 with the same message: it is printed once.
    assert "(The same message for 2.2, 2.3, 2.4.)" in out and out.count("ValueError: matmul") == 2  # 2.1, 4.6
    # Tests run in their numeric order, the order the table lists them (the suite numbers each
    # test after those whose failures it may name: @rests_on, @blames).
    ran = [tuple(int(p) for p in n.split(".")) for n in re.findall(r"^\[ ?\d+/\d+\] (?:ok|FAIL)\s+(\d+\.\d+) ", err, re.M)]
    assert len(ran) == int(re.search(r"/(\d+)\]", err).group(1)) and ran == sorted(ran), ran


def _winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _read_until(fd: int, buffer: bytearray, pattern: bytes, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pattern not in buffer and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return pattern in buffer
            if not chunk:
                break
            buffer += chunk
    return pattern in buffer


def test_ctrl_c_during_check_under_a_pseudo_terminal(reference_dir, tmp_path):
    sub = submission(reference_dir, tmp_path / "sub", SIGMOID_LOOP)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the student's terminal runs `check`
        try:
            os.chdir(PROJECT_ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "autograder", "check", str(sub)], check_env())
        finally:
            os._exit(127)
    output = bytearray()
    try:
        _winsize(fd, 40, 80)
        assert _read_until(fd, output, b"Sigmoid forward: running", 300), output.decode(errors="replace")
        time.sleep(1.0)
        os.killpg(os.getpgid(pid), signal.SIGINT)  # what Ctrl-C does: the foreground group
        _read_until(fd, output, b"\x00never", 120)  # to the end
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode("utf-8", errors="replace").replace("\r\n", "\n")
    screen = [line.split("\r")[-1] for line in text.split("\n")]  # what stays on screen
    assert os.WEXITSTATUS(status) == 130, text[-3000:]
    assert "stopped by you" in text and "Stopped by you" in text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "checker itself failed" not in text
    assert not [l for l in screen if re.match(r"\[\s*\d+/\d+\] FAIL\s+3\.3 ", l)]  # interrupted: not FAIL
    table = [l for l in screen if re.match(r"\d+\.\d+\s", l)]
    assert table and all(l.endswith((" ok", " --")) for l in table if "3.3" not in l.split()[0]), table
    assert any(l.endswith(" --") for l in table)  # tests that never ran: not FAIL
    assert any(l.startswith("PARTIAL: stopped after") for l in screen)
    for line in screen:
        assert len(line) <= 80 or str(sub) in line, line


def test_the_forbidden_library_note_says_what_its_stand_in_does(tmp_path):
    from autograder import submission

    (tmp_path / "preprocess.py").write_text("import tensorflow as tf\n")
    [warning] = submission.scan_imports(tmp_path, forbidden=["tensorflow"])
    # The handout's own loader goes through the stand-in (13.1): "code that uses it fails" was wrong.
    assert "data loader" in warning and "any other use" in warning
    assert "code that uses it fails" not in warning
