"""Submission normalisation: layouts, clutter, zips (zip-slip, links, bombs), caps, and the
static scan. Everything here reads files only; no student code runs."""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from autograder import submission as S

EXPECTED = ["calc/__init__.py", "calc/vec.py"]


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


GOOD = {"calc/__init__.py": "x = 1\n", "calc/vec.py": "y = 2\n", "notes.txt": "hi"}
CLUTTER = {"__MACOSX/calc/._vec.py": "junk", "calc/__pycache__/vec.cpython-311.pyc": "junk",
           ".DS_Store": "junk", "calc/._x.py": "junk", "explore.ipynb": "{}", ".git/HEAD": "ref",
           ".ipynb_checkpoints/a.py": "junk", ".venv/bin/python": "junk"}


def test_files_at_the_top(tmp_path):
    src = write(tmp_path / "src", {**GOOD, **CLUTTER})
    got = S.prepare(src, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]
    assert got.warnings == [] and got.notes == []


def test_inside_one_or_more_wrapper_folders(tmp_path):
    src = write(tmp_path / "src", {f"hw2/final/{k}": v for k, v in GOOD.items()} | {".DS_Store": "x"})
    got = S.prepare(src, tmp_path / "out")
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]
    assert "`hw2/final/`" in got.notes[0]


def test_a_lone_package_is_not_mistaken_for_a_wrapper(tmp_path):
    src = write(tmp_path / "src", {"calc/__init__.py": "", "calc/vec.py": ""})
    got = S.prepare(src, tmp_path / "out")
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py"]


def test_expected_files_find_the_root_beside_stray_files(tmp_path):
    src = write(tmp_path / "src", {"readme.md": "", **{f"project/{k}": v for k, v in GOOD.items()}})
    got = S.prepare(src, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]


def test_missing_expected_files_are_named(tmp_path):
    src = write(tmp_path / "src", {"calc/__init__.py": ""})
    got = S.prepare(src, tmp_path / "out", expected=EXPECTED)
    assert got.warnings == ["Your submission has no `calc/vec.py`; the tests that need it fail."]
    assert "calc/vec.py" in got.markdown()


def zip_of(path: Path, entries: dict[str, bytes | str], links: dict[str, str] = {}) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_an_uploaded_zip_with_a_wrapper_folder(tmp_path):
    archive = zip_of(tmp_path / "hw.zip", {f"hw2/{k}": v for k, v in {**GOOD, **CLUTTER}.items()})
    got = S.prepare(archive, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]
    assert any("Unpacked `hw.zip`" in n for n in got.notes)


def test_a_zip_as_the_only_file_of_the_submission_folder(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    zip_of(folder / "mywork.zip", GOOD)
    (folder / ".DS_Store").write_text("x")
    got = S.prepare(folder, tmp_path / "out")
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]


def test_zip_slip_absolute_paths_and_links_are_refused(tmp_path):
    archive = zip_of(tmp_path / "evil.zip",
                     {"calc/__init__.py": "ok", "../../escaped.py": "bad", "/etc/evil.py": "bad",
                      "calc/../../../up.py": "bad", "C:/win.py": "bad"},
                     links={"calc/vec.py": "/autograder/source/reference/calc/vec.py"})
    out = tmp_path / "deep" / "out"
    got = S.prepare(archive, out)
    assert listing(got.root) == ["calc/__init__.py"]
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "up.py").exists()
    assert not (tmp_path / "deep" / "escaped.py").exists()
    assert any("unsafe paths or links" in n for n in got.notes)


def test_symlinks_on_disk_are_never_followed(tmp_path):
    secret = write(tmp_path / "secret", {"answer.py": "SECRET"})
    src = write(tmp_path / "src", {"calc/__init__.py": ""})
    os.symlink(secret / "answer.py", src / "calc" / "vec.py")
    os.symlink(secret, src / "linked_dir")
    os.link(secret / "answer.py", src / "calc" / "hard.py")
    got = S.prepare(src, tmp_path / "out")
    assert listing(got.root) == ["calc/__init__.py"]
    assert "SECRET" not in "".join(p.read_text() for p in got.root.rglob("*") if p.is_file())
    assert any("Links (symbolic or hard)" in n and "hard.py" in n for n in got.notes)


def test_size_caps_hold_for_zip_bombs_and_big_files(tmp_path):
    caps = S.Caps(file_bytes=1000, total_bytes=3000, files=5)
    bomb = zip_of(tmp_path / "bomb.zip", {"calc/__init__.py": "ok", "big.bin": b"\0" * 10**6,
                                           **{f"f{i}.txt": "x" * 900 for i in range(6)}})
    got = S.prepare(bomb, tmp_path / "out", caps=caps)
    files = listing(got.root)
    assert "big.bin" not in files and len(files) <= 4
    assert sum((got.root / f).stat().st_size for f in files) <= 3000
    assert any("size limits" in n for n in got.notes)


def test_a_zip_header_that_lies_about_size_cannot_overfill(tmp_path):
    archive = tmp_path / "liar.zip"
    zip_of(archive, {"calc/__init__.py": "x" * 5000})
    data = bytearray(archive.read_bytes())
    # Patch the central directory's uncompressed size (offset 24 in the entry) down to 10 bytes.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    got = S.prepare(archive, tmp_path / "out")
    assert not (got.root / "calc" / "__init__.py").exists() or \
        (got.root / "calc" / "__init__.py").stat().st_size <= 10


def test_a_broken_zip_is_reported_not_fatal(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    got = S.prepare(broken, tmp_path / "out")
    assert listing(got.root) == [] and any("not a readable zip" in n for n in got.notes)


def test_kit_files_of_the_grader_are_not_taken_from_the_submission(tmp_path):
    src = write(tmp_path / "src", {**GOOD, "autograder/plugin/__init__.py": "evil", "tests/graded/public/test_x.py": "",
                                   "dev.py": "", "autograder.cfg": ""})
    got = S.prepare(src, tmp_path / "out")
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]


def test_prepared_files_are_readable_plain_files(tmp_path):
    src = write(tmp_path / "src", GOOD)
    (src / "calc" / "vec.py").chmod(0o600)
    got = S.prepare(src, tmp_path / "out")
    assert (got.root / "calc" / "vec.py").stat().st_mode & 0o777 == 0o644
    assert got.root.stat().st_mode & 0o777 == 0o755


def test_scan_reports_forbidden_and_substituted_imports_and_syntax_errors(tmp_path):
    root = write(tmp_path / "sub", {
        "calc/losses.py": "import numpy as np\nimport tensorflow as tf\n",
        "calc/train.py": "from tqdm import tqdm\nfrom sklearn.metrics import accuracy_score\nfrom .losses import x\n",
        "calc/broken.py": "def f(:\n",
    })
    warnings = S.scan_imports(root, ["tensorflow", "sklearn"], ["tqdm"])
    text = "\n".join(warnings)
    assert "`calc/losses.py` line 2 imports `tensorflow`" in text
    assert "`calc/train.py` line 2 imports `sklearn`" in text
    assert "`calc/train.py` line 1 imports `tqdm`" in text and "stand-in" in text
    assert "`calc/broken.py` line 1" in text
    assert "numpy" not in text and len(warnings) == 4


def test_expected_files_come_from_the_template(tmp_path):
    template = write(tmp_path / "template", {"calc/__init__.py": "", "calc/vec.py": "",
                                             "calc/__pycache__/x.py": "", "data/readme.txt": ""})
    assert S.expected_files(template) == EXPECTED
    assert S.expected_files(None) == [] and S.expected_files(tmp_path / "nope") == []


@pytest.mark.parametrize("module, files", [("calc", ["calc.py", "calc/__init__.py"]),
                                           ("calc.vec", ["calc/vec.py", "calc/vec/__init__.py"])])
def test_module_file_candidates(module, files):
    assert S.module_file_candidates(module) == files


@pytest.mark.parametrize("order", ["file first", "folder first"])
def test_a_file_and_a_folder_of_the_same_name_in_a_zip_keep_the_folder(tmp_path, order):
    # Some zip tools store a folder as an entry without its trailing "/": a file `calc`.
    entries = [("calc", ""), ("calc/__init__.py", "x = 1\n"), ("calc/vec.py", "y = 2\n")]
    archive = zip_of(tmp_path / "hw.zip", dict(entries if order == "file first" else entries[::-1]))
    got = S.prepare(archive, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py"] and got.warnings == []
    assert any("both a file and a folder named `calc`" in n for n in got.notes), got.notes


def test_zip_entries_the_file_system_refuses_are_skipped_with_a_note(tmp_path):
    archive = zip_of(tmp_path / "hw.zip", {**GOOD, "x" * 300 + ".py": "long", "/".join(["d"] * 40) + "/deep.py": ""})
    got = S.prepare(archive, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]
    assert any("could not be unpacked" in n and "x" * 20 in n for n in got.notes), got.notes
    assert any("unsafe paths" in n for n in got.notes), got.notes  # nested deeper than the cap


def test_a_zip_announcing_more_entries_than_any_submission_is_not_read(tmp_path):
    archive = zip_of(tmp_path / "hw.zip", {f"f{i}.txt": "" for i in range(30)})
    got = S.prepare(archive, tmp_path / "out", caps=S.Caps(zip_entries=20))
    assert listing(got.root) == [] and any("30 entries" in n for n in got.notes), got.notes


def test_folders_nested_deeper_than_the_cap_and_pipes_are_left_out(tmp_path):
    src = write(tmp_path / "src", {**GOOD, "/".join(["d"] * 40) + "/deep.py": ""})
    os.mkfifo(src / "calc" / "pipe.py")
    got = S.prepare(src, tmp_path / "out", expected=EXPECTED)
    assert listing(got.root) == ["calc/__init__.py", "calc/vec.py", "notes.txt"]
    assert any("nested more than 32 deep" in n for n in got.notes), got.notes


def test_a_non_utf8_file_name_is_named_in_valid_text(tmp_path):
    src = write(tmp_path / "src", GOOD)
    with open(os.fsencode(src) + b"/calc/caf\xe9.py", "wb") as handle:
        handle.write(b"def f(:\n")
    got = S.prepare(src, tmp_path / "out", expected=EXPECTED)
    warnings = S.scan_imports(got.root, [])
    assert len(warnings) == 1 and "caf\ufffd.py" in warnings[0]
    warnings[0].encode("utf-8")  # results.json is UTF-8: no lone surrogate may reach it


@pytest.mark.parametrize("source", ["x = " + "1+" * 300_000 + "1\n", "x = " + "-" * 300_000 + "1\n",
                                    "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n"])
def test_scan_reports_an_expression_too_deep_to_parse_and_goes_on(tmp_path, source):
    root = write(tmp_path / "sub", {"calc/notes.py": source, "calc/train.py": "import tensorflow\n"})
    warnings = S.scan_imports(root, ["tensorflow"])
    assert any(w.startswith("`calc/notes.py`") and "cannot read this file" in w for w in warnings), warnings
    assert any("`calc/train.py` line 1 imports `tensorflow`" in w for w in warnings)


def test_a_file_that_kills_the_parser_is_reported_and_the_scan_goes_on(tmp_path, monkeypatch):
    # Python 3.10 (Gradescope's) dies of SIGSEGV on 600 KB of `1+1+...`: here a file that
    # aborts the parsing child stands in for it, on any version.
    crashing = S.parse_guard.CHILD.replace("import ast, json, sys", "import ast, json, os, sys").replace(
        "            tree = ast.parse(handle.read())",
        "            source = handle.read()\n            if b'CRASH' in source:\n                os.abort()\n"
        "            tree = ast.parse(source)")
    assert crashing != S.parse_guard.CHILD
    monkeypatch.setattr(S.parse_guard, "CHILD", crashing)
    root = write(tmp_path / "sub", {"calc/a.py": "import tensorflow\n", "calc/b.py": "# CRASH\n",
                                    "calc/c.py": "import tensorflow\n"})
    warnings = S.scan_imports(root, ["tensorflow"])
    assert len(warnings) == 3, warnings
    assert warnings[1] == "`calc/b.py`: Python cannot read this file (an expression is nested too deeply to parse); " \
                          "every test that imports it fails."
    assert "`calc/c.py` line 1 imports `tensorflow`" in warnings[2]
