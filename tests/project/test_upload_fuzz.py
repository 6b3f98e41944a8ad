"""Any upload yields graded tests or a clear message, never a grader error (issue 18 #4).

Hypothesis builds uploads as a student's tools (or a student) might: zips and folders with
wrapper folders and deep nesting, empty, big and many files, a file and a folder of the
same name, duplicate entries, `../` and absolute names, symbolic and hard links, pipes and
device files, control characters and names that are not UTF-8, expressions nested too
deeply to parse, and zip bombs. `submission.prepare` must turn each into a folder of plain
files with notes that are inert text; the `grade` command must turn each into a valid
results.json (results.problems() and the JSON Schema) that is not a grader error.

Derandomised with bounded examples (60 preparations, 6 gradings of two tests each), so CI
pays a fixed, modest price (about two minutes on a loaded 2-core machine).
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from markdown_it import MarkdownIt

from autograder import results as results_mod
from autograder import submission as S
from autograder.untrusted import clean
from suite_support import copy_of, graded

SCHEMA = json.loads(Path(results_mod.SCHEMA_PATH).read_text())
EXPECTED = ["calc/__init__.py", "calc/vec.py"]
CAPS = S.Caps(file_bytes=64 * 1024, total_bytes=256 * 1024, files=40, depth=8, zip_entries=200)
def fuzz(examples: int) -> settings:
    return settings(derandomize=True, database=None, deadline=None, print_blob=False, max_examples=examples,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])

# Names as uploads have them: plain, hostile markup, control characters, too long for the file
# system, clutter, and bytes that are not UTF-8 (b"..." names; on disk only, or in a zip
# whose entries say they are UTF-8 when they are not).
NAMES = st.sampled_from([
    "calc", "vec.py", "__init__.py", "notes.py", "data", "hw2", "a.py", "empty", ".DS_Store",
    "__pycache__", "x\ny.py", "tab\tname", "esc\x1b[31m.py", "`tick`.py", "<img src=x onerror=alert(1)>.py",
    "[link](https://evil.example)", "**bold**", "# heading", "\u202egnp.py", "n" * 300, "a:b",
    b"caf\xe9.py", b"\xff\xfe",
])
DEEP = b"x = " + b"1+" * 200_000 + b"1\n"
CONTENTS = st.sampled_from([b"", b"x = 1\n", b"def broken(:\n", b"\0" * 100_000, DEEP,
                            b"import tensorflow\n", b"print('hi')\r\n" * 50])
KINDS = st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink", "fifo", "device"])


@st.composite
def entries(draw, max_entries=30):
    """(path parts, kind, bytes) in creation order; paths may repeat or conflict."""
    out = []
    for _ in range(draw(st.integers(0, max_entries))):
        depth = draw(st.integers(1, 12))
        parts = [draw(NAMES) for _ in range(depth)]
        out.append((parts, draw(KINDS), draw(CONTENTS)))
    return out


@st.composite
def uploads(draw, max_entries=30):
    """(shape, wrapper folders, extra entries, shuffle seed or None, file count over the cap)."""
    wrapper = draw(st.lists(st.sampled_from(["hw2", "final", "my work", "ünï"]), max_size=3))
    extra = draw(entries(max_entries))
    shuffle = draw(st.none() | st.integers(0, 2**16))
    many = draw(st.sampled_from([0, 0, 60]))
    return draw(st.sampled_from(["folder", "zip", "zip in zip"])), wrapper, extra, shuffle, many


def listing_of(upload, base: dict) -> list:
    """The upload's entries: `base` (relative path -> bytes) inside the wrapper, then the rest."""
    _, wrapper, extra, shuffle, many = upload
    listed = [([*wrapper, *rel.split("/")], "file", data) for rel, data in base.items()] + extra
    listed += [([*wrapper, "many", f"f{i}.txt"], "file", b"x") for i in range(many)]
    if shuffle is not None:
        random.Random(shuffle).shuffle(listed)
    return listed


def as_bytes(part) -> bytes:
    return part if isinstance(part, bytes) else part.encode("utf-8")


def build_folder(root: Path, listed, secret: Path) -> Path:
    """The upload on disk. What the file system refuses (a file inside a file, a name too
    long) is simply not created: a real upload could not hold it either."""
    base = os.fsencode(root)
    os.mkdir(base)
    for parts, kind, data in listed:
        path = base + b"/" + b"/".join(as_bytes(p) for p in parts)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if kind == "dir":
                os.makedirs(path, exist_ok=True)
            elif kind == "symlink":
                os.symlink(os.fsencode(secret), path)
            elif kind == "hardlink":
                os.link(os.fsencode(secret), path)
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "device" and os.geteuid() == 0:
                os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
            else:  # non-blocking: the name may already be a pipe, which must not hang the test
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
        except OSError:
            continue
    return root


def build_zip(path: Path, listed, bomb: bool) -> Path:
    """The upload as a zip: every entry written as named (duplicates, `../`, absolute names,
    links as link entries), names that are not UTF-8 flagged as UTF-8 all the same."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for parts, kind, data in listed:
                name = "/".join(p.decode("latin-1") if isinstance(p, bytes) else p for p in parts)
                if kind == "hardlink":
                    name = "../" + name
                elif kind == "device":
                    name = "/abs/" + name
                info = zipfile.ZipInfo(name + ("/" if kind == "dir" else ""))
                info.compress_type = zipfile.ZIP_DEFLATED
                if kind == "symlink":
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    data = b"/etc/passwd"
                elif kind == "fifo":
                    info.external_attr = (stat.S_IFIFO | 0o644) << 16
                if any(isinstance(p, bytes) for p in parts):
                    info.flag_bits |= 0x800  # "UTF-8", which latin-1 bytes are not
                zf.writestr(info, b"" if kind == "dir" else data)
            if bomb:  # 60 MB of zeros in a few dozen KB, over the per-file cap
                zf.writestr("bomb.bin", b"\0" * (60 * 2**20))
    path.write_bytes(buffer.getvalue())
    return path


def make_upload(tmp: Path, shape: str, listed, secret: Path, bomb: bool = False) -> Path:
    if shape == "folder":
        return build_folder(tmp / "upload", listed, secret)
    archive = build_zip(tmp / "upload.zip", listed, bomb)
    if shape == "zip in zip":
        outer = tmp / "outer.zip"
        with zipfile.ZipFile(outer, "w") as zf:
            zf.write(archive, "inner.zip")
        archive.unlink()
        return outer
    return archive


LIVE = ("html_block", "html_inline", "link_open", "image")


def live_markup(markdown: str) -> list[str]:
    todo, found = list(MarkdownIt("commonmark").parse(markdown)), []
    while todo:
        token = todo.pop()
        if token.type in LIVE:
            found.append(f"{token.type}: {token.content or token.attrs}")
        todo.extend(token.children or ())
    return found


def check_text(text: str) -> None:
    text.encode("utf-8")  # a UTF-8 document can hold it
    assert text == clean(text), f"control characters in {text!r}"
    assert not live_markup(text), (text, live_markup(text))


def secret_file(tmp: Path) -> Path:
    secret = tmp / "secret.py"
    secret.write_text("SECRET = 'the grader must never copy me'\n")
    return secret


@fuzz(60)
@given(upload=uploads())
def test_prepare_turns_any_upload_into_plain_files_and_inert_notes(upload, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upload")
    listed = listing_of(upload, {"calc/__init__.py": b"x = 1\n", "calc/vec.py": b"y = 2\n"})
    source = make_upload(tmp, upload[0], listed, secret_file(tmp))
    before = sorted(os.listdir(tmp))
    got = S.prepare(source, tmp / "out", expected=EXPECTED, caps=CAPS)
    assert sorted(os.listdir(tmp)) == sorted(before + ["out"])  # nothing escaped the destination
    files = sizes = 0
    for dirpath, dirnames, filenames in os.walk(got.root):
        for name in dirnames + filenames:
            info = os.lstat(os.path.join(dirpath, name))
            assert stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode), (dirpath, name)
        for name in filenames:
            files += 1
            sizes += os.path.getsize(os.path.join(dirpath, name))
            with open(os.path.join(dirpath, name), "rb") as handle:
                assert b"the grader must never copy me" not in handle.read()
    assert files <= CAPS.files and sizes <= CAPS.total_bytes
    for text in [got.markdown(), *S.scan_imports(got.root, ["tensorflow"])]:
        check_text(text)
    shutil.rmtree(tmp)


@pytest.fixture(scope="module")
def fuzz_reference(reference_dir, tmp_path_factory):
    return copy_of(reference_dir, tmp_path_factory.mktemp("fuzz") / "reference")


def valid_and_not_a_grader_error(doc: dict) -> None:
    assert results_mod.problems(doc) == []
    jsonschema.validate(doc, SCHEMA)
    assert not doc["output"].startswith(results_mod.INCOMPLETE_OPENINGS), doc["output"][:2000]
    assert doc["tests"], "no test was graded"
    for text in [doc["output"], *(t["output"] for t in doc["tests"])]:
        check_text(text)


@fuzz(6)
@given(upload=uploads(max_entries=12), bomb=st.booleans())
def test_the_grade_command_turns_any_upload_into_a_valid_results_json(upload, bomb, fuzz_reference,
                                                                      tmp_path_factory, mnist_dir):
    tmp = tmp_path_factory.mktemp("graded-upload")
    reference = {p.relative_to(fuzz_reference).as_posix(): p.read_bytes()
                 for p in sorted(fuzz_reference.rglob("*")) if p.is_file()}
    source = make_upload(tmp, upload[0], listing_of(upload, reference), secret_file(tmp), bomb=bomb)
    doc, _ = graded(source, extra_pytest_args=["-k", "test_sigmoid_forward or test_dense_forward"])
    valid_and_not_a_grader_error(doc)
    shutil.rmtree(tmp)


def test_a_notes_file_too_deeply_nested_to_parse_beside_the_reference_scores_full_marks(fuzz_reference, tmp_path,
                                                                                        mnist_dir):
    submission = copy_of(fuzz_reference, tmp_path / "deep")
    (submission / "notes.py").write_bytes(b"x = " + b"1+" * 300_000 + b"1\n")  # 600 KB
    doc, _ = graded(submission)
    valid_and_not_a_grader_error(doc)
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0
    assert "`notes.py`: Python cannot read this file" in doc["output"]


def test_a_zip_whose_folder_is_first_a_file_is_graded(fuzz_reference, tmp_path, mnist_dir):
    archive = tmp_path / "hw.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("beras", b"")
        for path in sorted(fuzz_reference.rglob("*.py")):
            zf.write(path, path.relative_to(fuzz_reference).as_posix())
    doc, _ = graded(archive, extra_pytest_args=["-k", "test_sigmoid_forward or test_dense_forward"])
    valid_and_not_a_grader_error(doc)
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0
    assert "both a file and a folder named `beras`" in doc["output"]
