"""autograder.cfg is read by course.py alone, into one typed object that every reader follows."""
from __future__ import annotations

import json
import shutil

import pytest

from autograder import course
from autograder.commands import template as template_command
from autograder.build import data_plan
from autograder.sandbox.grader.config import fitted_memory_mb
from engine_cases import harness


def test_the_course_file_is_typed():
    c = course.load(harness.REPO / "autograder.cfg")
    assert c.root == harness.REPO and c.suite == harness.REPO / "tests" / "graded"
    assert c.template == harness.REPO / "student_template"
    assert "tensorflow" in c.forbidden and "tqdm" in c.stand_ins and c.forbidden is c.sandbox.forbidden
    assert c.sandbox.call_timeout_s > 0 and c.sandbox.memory_mb >= 256 and c.sandbox.max_processes >= 1
    assert isinstance(c.sandbox.cpu_s, int) and isinstance(c.test_timeout_s, float)
    assert c.data is not None and c.data.required and c.data.folder == "data/mnist"
    # The engine's test course has no [data], and its own limits.
    small = course.load(harness.COURSE_CFG)
    assert small.data is None and small.test_timeout_s == 20 and small.sandbox.max_value_mb == 64


def changed_course(tmp_path):
    """The engine's test course under tmp_path, its configuration changed everywhere."""
    root = tmp_path / "course"
    shutil.copytree(harness.COURSE, root)
    (root / "template").rename(root / "handout")
    (root / "autograder.cfg").write_text(
        "[autograder]\nsuite = suite\npublic_suite = suite/public\nreference = reference\n"
        "template = handout\nkit_files = autograder.cfg\ntest_timeout_s = 7\ntotal_timeout_s = 33\n"
        "[data]\nfolder = stuff/\nfrom_env = NO_SUCH_VARIABLE_FOR_COURSE_TEST\nrequired = a b\n"
        "[sandbox]\nforbidden = calcfree\nstand_ins = tqdm\ncall_timeout_s = 3\nmemory_mb = 300\n"
        "network = no\nnamespaces = off\nenv = A=1 B=2\n")
    return root


def test_every_value_of_a_changed_file_is_read(tmp_path):
    root = changed_course(tmp_path)
    c = course.load(root / "autograder.cfg")
    assert (c.test_timeout_s, c.total_timeout_s, c.template) == (7.0, 33.0, root / "handout")
    assert c.forbidden == ("calcfree",) and c.stand_ins == ("tqdm",)
    assert c.sandbox.memory_mb == fitted_memory_mb(300) and c.sandbox.call_timeout_s == 3.0
    assert c.sandbox.network is False and c.sandbox.env == {"A": "1", "B": "2"}
    assert c.sandbox.namespaces is False and course.load(harness.REPO / "autograder.cfg").sandbox.namespaces is True
    assert c.data == course.DataFiles(folder="stuff", from_env="NO_SUCH_VARIABLE_FOR_COURSE_TEST",
                                      required=("a", "b"))


def test_build_and_template_follow_the_file(tmp_path, monkeypatch):
    root = changed_course(tmp_path)
    c = course.load(root / "autograder.cfg")
    plan = data_plan(c, None)
    assert (plan.folder, plan.missing, plan.files) == ("stuff", ["a", "b"], [])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.gz").write_bytes(b"x")
    assert data_plan(c, tmp_path / "data").files == [("stuff/a.gz", tmp_path / "data" / "a.gz")]
    # `template` with no arguments writes the configured handout from the configured reference.
    monkeypatch.setenv(course.CONFIG_ENV, str(root / "autograder.cfg"))
    assert course.load() == c
    shutil.rmtree(root / "handout")
    assert template_command.main([]) == 0
    assert (root / "handout" / "calc" / "vec.py").is_file() and template_command.main(["--check"]) == 0
    (root / "handout" / "calc" / "vec.py").write_text("stale\n")
    assert template_command.main(["--check"]) == 1


@pytest.mark.parametrize("text, complaint", [
    ("[sandbox]\nmemory_gb = 3\n", "unknown setting 'memory_gb' in \\[sandbox\\]"),
    ("[autograder]\ntest_timeout = 3\n", "unknown setting 'test_timeout' in \\[autograder\\]"),
    ("[sandbox]\ncpu_s = lots\n", "bad value 'lots' for cpu_s"),
    ("[sandbox]\nnetwork = perhaps\n", "bad value 'perhaps' for network"),
    ("[autograder]\ntotal_timeout_s = soon\n", "bad value 'soon' for total_timeout_s"),
])
def test_a_wrong_setting_is_named(tmp_path, text, complaint):
    (tmp_path / "a.cfg").write_text(text)
    with pytest.raises(course.ConfigError, match=complaint):
        course.load(tmp_path / "a.cfg")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no autograder configuration"):
        course.load(tmp_path / "none.cfg")


FOLLOWING_SUITE = '''
import time

from gradescope_utils.autograder_utils.decorators import number, weight

from autograder.plugin import active_course
from autograder.sandbox import fetch


@weight(1)
@number("1")
def test_the_run_reads_the_changed_file(student):
    """the suite, the sandbox and the worker follow the file"""
    course = active_course()  # what a suite's helpers (tests/graded/data.py) read
    assert course.template.name == "handout" and course.forbidden == ("calcfree",)
    limit = fetch(student.import_module("resource").getrlimit(student.import_module("resource").RLIMIT_AS))
    assert limit[0] == course.sandbox.memory_mb * 1024 * 1024 == MEMORY_MB * 1024 * 1024, limit


@weight(1)
@number("2")
def test_too_slow():
    """sleeps longer than the configured limit"""
    time.sleep(20)
'''


def test_a_graded_run_follows_the_file(tmp_path):
    """grade (cli), the plugin's time limit, static scan, handout and sandbox, and the suite's
    view of the course all come from the one configuration given."""
    root = changed_course(tmp_path)
    cfg = root / "autograder.cfg"
    cfg.write_text(cfg.read_text().replace("test_timeout_s = 7", "test_timeout_s = 2.5")
                   .replace("memory_mb = 300", "memory_mb = 700"))
    shutil.rmtree(root / "suite")
    (root / "suite" / "public").mkdir(parents=True)
    (root / "suite" / "test_follow.py").write_text(
        FOLLOWING_SUITE.replace("MEMORY_MB", str(fitted_memory_mb(700))))
    submission = harness.make_submission(tmp_path / "sub")
    (submission / "calc" / "extra.py").write_text("import calcfree\n")
    (root / "handout" / "calc" / "more.py").write_text("")  # the handout has a file the submission lacks
    out = tmp_path / "results.json"
    proc = harness.engine("grade", submission, "--out", out, "--config", cfg, "--quiet")
    doc = harness.validate(json.loads(out.read_text()))
    tests = harness.by_function(doc)
    assert tests["test_the_run_reads_the_changed_file"]["status"] == "passed", (tests, proc.stdout[-3000:])
    assert "took longer than 2.5 seconds" in tests["test_too_slow"]["output"]
    assert "calcfree" in doc["output"] and "calc/more.py" in doc["output"]
