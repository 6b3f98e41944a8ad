"""Reading Gradescope "Export Submissions" downloads: metadata, layouts, hostile zips, shards.

These run without grading anything: they check how `regrade` finds submissions and students.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from autograder.atomic import write_json_atomic
from autograder.batch import natural_key
from autograder.regrade.export import Export, ExportError, parse_metadata, parse_shard, shard_slice
from autograder.regrade.layout import METADATA_NAME, RECORD_NAME, RESULTS_NAME
from autograder.regrade.run import GradingOptions, is_complete

# Exactly the shape of Gradescope's file: Ruby symbol keys, a group, a timestamp with
# nanoseconds and an offset, and the BigDecimal tag some older exports carry.
METADATA = """\
submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '100'
    :email: ada@example.edu
  :created_at: 2026-10-01 12:00:00.000000000 -04:00
  :score: 87.0
submission_20:
  :submitters:
  - :name: Grace Hopper
    :sid: '200'
    :email: grace@example.edu
  - :name: Alan Turing
    :sid: '201'
    :email: alan@example.edu
  :created_at: 2026-10-02 09:30:00.000000000 -04:00
  :score: !ruby/object:BigDecimal 18:0.935e2
submission_3:
  :submitters:
  - :name: Emmy Noether
    :sid: 300
    :email: emmy@example.edu
  :created_at: 2026-10-03 23:59:59.999999999 -04:00
  :score:
"""


def make_export_folder(root: Path, ids=("submission_101", "submission_20", "submission_3"), metadata=METADATA):
    for sub in ids:
        (root / sub / "beras").mkdir(parents=True)
        (root / sub / "beras" / "core.py").write_text(f"WHO = {sub!r}\n")
    if metadata is not None:
        (root / METADATA_NAME).write_text(metadata)
    return root


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def test_metadata_symbol_keys_groups_and_ruby_tags():
    found = parse_metadata(METADATA)
    assert set(found) == {"submission_101", "submission_20", "submission_3"}
    ada = found["submission_101"]
    assert ada.submitters == [{"name": "Ada Lovelace", "sid": "100", "email": "ada@example.edu"}]
    assert ada.score == 87.0
    assert ada.created_at.startswith("2026-10-01")
    group = found["submission_20"]
    assert [s["email"] for s in group.submitters] == ["grace@example.edu", "alan@example.edu"]
    assert group.people("name") == "Grace Hopper; Alan Turing"
    assert group.score == pytest.approx(93.5)
    assert found["submission_3"].submitters[0]["sid"] == "300"  # numbers become text, as sids are
    assert found["submission_3"].score is None


def test_metadata_that_is_not_yaml_is_an_export_error():
    with pytest.raises(ExportError, match="not valid YAML"):
        parse_metadata("submission_1: [unclosed\n")


@pytest.mark.parametrize("layout", ["folder", "zip", "zip-with-wrapping-folder", "unzipped-with-wrapping-folder"])
def test_every_layout_lists_the_same_submissions_in_natural_order(tmp_path, layout):
    folder = make_export_folder(tmp_path / "export")
    if layout == "folder":
        path = folder
    elif layout == "zip":
        path = zip_folder(folder, tmp_path / "export.zip")
    elif layout == "zip-with-wrapping-folder":
        path = zip_folder(folder, tmp_path / "export.zip", prefix="assignment_7_export/")
    else:
        wrapper = tmp_path / "unzipped"
        wrapper.mkdir()
        folder.rename(wrapper / "assignment_7_export")
        path = wrapper
    with Export(path) as export:
        assert [s.id for s in export.submissions] == ["submission_3", "submission_20", "submission_101"]
        assert all(s.present for s in export.submissions)
        assert export.submissions[1].people("email") == "grace@example.edu; alan@example.edu"
        files = export.materialise("submission_20")
        assert (files / "beras" / "core.py").read_text() == "WHO = 'submission_20'\n"


def test_bare_folder_of_submissions_without_metadata(tmp_path):
    folder = make_export_folder(tmp_path / "export", ids=("alice", "bob"), metadata=None)
    (folder / "__MACOSX").mkdir()
    (folder / ".hidden").mkdir()
    with Export(folder) as export:
        assert [s.id for s in export.submissions] == ["alice", "bob"]
        assert export.submissions[0].submitters == []


def test_metadata_without_a_folder_is_listed_as_missing(tmp_path):
    folder = make_export_folder(tmp_path / "export", ids=("submission_101", "submission_20"))
    with Export(folder) as export:
        present = {s.id: s.present for s in export.submissions}
    assert present == {"submission_3": False, "submission_20": True, "submission_101": True}


@pytest.mark.parametrize("evil", ["../escape.py", "submission_1/../../escape.py", "/etc/escape.py",
                                  "submission_1\\..\\..\\escape.py", "C:/escape.py"])
def test_zip_slip_members_refuse_the_whole_export(tmp_path, evil):
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("submission_1/beras/core.py", "X = 1\n")
        archive.writestr(zipfile.ZipInfo(evil), "import os\n")
    with pytest.raises(ExportError, match="unsafe member"):
        Export(target)
    assert not (tmp_path / "escape.py").exists()


def test_symbolic_links_in_a_zip_are_skipped_not_followed(tmp_path):
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("submission_1/beras/core.py", "X = 1\n")
        link = zipfile.ZipInfo("submission_1/secret.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/shadow")
    with Export(target) as export:
        files = export.materialise("submission_1")
        assert (files / "beras" / "core.py").exists()
        assert not (files / "secret.txt").exists() and not (files / "secret.txt").is_symlink()
        assert any("symbolic link" in w for w in export.warnings)


def test_extracted_submissions_are_private_and_removed_once_graded(tmp_path):
    folder = make_export_folder(tmp_path / "export")
    with Export(zip_folder(folder, tmp_path / "export.zip")) as export:
        files = export.materialise("submission_3")
        assert files.parent.stat().st_mode & 0o077 == 0  # no slot user reads another slot's submission
        export.release("submission_3")
        assert not files.exists()


def test_shards_partition_the_export_deterministically():
    ids = [f"submission_{n}" for n in (5, 40, 3, 100, 7, 21, 9)]
    ordered = sorted(ids, key=natural_key)
    assert ordered[:3] == ["submission_3", "submission_5", "submission_7"]
    slices = [shard_slice(ordered, k, 3) for k in (1, 2, 3)]
    assert sorted(sum(slices, []), key=natural_key) == ordered
    assert all(not set(a) & set(b) for i, a in enumerate(slices) for b in slices[i + 1:])
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert shard_slice(ordered, 2, 3) == shard_slice(list(ordered), 2, 3)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2"])
def test_bad_shard_specs_are_rejected(text):
    with pytest.raises(ValueError):
        parse_shard(text)


def test_shard_spec_is_one_based():
    assert parse_shard("1/4") == (1, 4)
    assert parse_shard(" 4 / 4 ") == (4, 4)


def test_resume_trusts_a_folder_only_for_the_same_files_and_options(tmp_path):
    folder = make_export_folder(tmp_path / "export")
    options = GradingOptions().as_record()
    with Export(folder) as export:
        sub = export.submissions[0]
        fingerprint = export.fingerprint(sub)
        out = tmp_path / "out" / sub.id
        write_json_atomic(out / RESULTS_NAME, {"score": 3, "tests": [{"score": 3, "max_score": 3}]})
        write_json_atomic(out / RECORD_NAME, {"status": "graded", "options": options, "fingerprint": fingerprint})
        assert is_complete(out, fingerprint, options)
        assert not is_complete(out, fingerprint, GradingOptions(public_only=True).as_record())
        (export.materialise(sub.id) / "beras" / "core.py").write_text("WHO = 'someone else'\n")
        assert not is_complete(out, export.fingerprint(sub), options)
    with Export(zip_folder(folder, tmp_path / "export.zip")) as zipped:  # zips are identified unextracted
        assert zipped.fingerprint(zipped.submissions[0]) == zipped.fingerprint(zipped.submissions[0])
        assert zipped.fingerprint(zipped.submissions[0]) != zipped.fingerprint(zipped.submissions[1])


def test_job_threads_extract_from_one_zip_side_by_side(tmp_path):
    import concurrent.futures

    ids = tuple(f"submission_{n}" for n in range(24))
    folder = make_export_folder(tmp_path / "export", ids=ids, metadata=None)
    archive = zip_folder(folder, tmp_path / "export.zip")
    for _ in range(5):  # the first extractions of a fresh Export are the racy moment
        with Export(archive) as export:
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                paths = list(pool.map(export.materialise, ids))
            for sub, path in zip(ids, paths):
                assert (path / "beras" / "core.py").read_text() == f"WHO = {sub!r}\n"
