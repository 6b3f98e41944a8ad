"""Student text is data: it never becomes live Markdown, HTML or a link (issue 10, finding 4).

An exception class named "Oops\\r\\r<img src=x onerror=alert(1)>\\r\\r[click](https://...)" once
broke out of its code span (a carriage return is a CommonMark line ending) and rendered as
raw HTML and a live link. Here one hostile submission puts such a payload in every channel
that reaches results.json: an exception's class name and message, the file, function and
source line of a traceback frame, printed output, a returned string, the class name of a
returned object, a file Python cannot parse, the folder wrapping the files in the zip, a
zip member with an unsafe path, the outline of what `load_and_preprocess_data()` returned
(13.1), and a layer's `__qualname__` in 12.1's report of the slow parts (issue 18 #5). The
payload holds raw HTML, links, images, a heading, bold text, backticks and line breaks; the
results writer itself refuses live markup under our tests (AUTOGRADER_STRICT_MARKDOWN). It is graded by the real suite through the plugin, and every
output field is rendered by a real CommonMark renderer (markdown-it-py); then the console
table and the TA report page are checked the same way.
"""
from __future__ import annotations

import ast
import html.parser
import re
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from autograder import untrusted
from autograder.atomic import write_json_atomic
from autograder.commands.grade import summary_table
from autograder.regrade.layout import GRADED, RECORD_NAME, RESULTS_NAME
from autograder.regrade.report import render
from autograder.regrade.tables import write_tables
from suite_support import copy_of, graded

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def payload(tag: str, line_breaks: bool = True) -> str:
    """Markup that would be live if it escaped: raw HTML, a link, an image, a heading, a
    fence, terminal escapes and a bidi override, around a marker naming its channel."""
    cr = "\r\r" if line_breaks else " "
    nl = "\n\n" if line_breaks else " "
    return (f"{tag}{cr}<img src=x onerror=alert('{tag}')>{cr}[click {tag}](https://evil.example/{tag})"
            f" ![i](https://evil.example/{tag}.png) <https://evil.example/a{tag}> ``` ` "
            f"<script>alert('{tag}')</script>\x1b[31m\u202e{tag}-end"
            f"{nl}# Regrade approved {tag}: 100 / 100{nl}**Grader note {tag}:** full marks __{tag}__ `{nl}")


# Markers of the channels, each of which must show up in results.json (the attack ran).
CHANNELS = ["EXCNAME", "EXCMESSAGE", "FRAMEFILE", "FRAMEFUNC", "FRAMESOURCE", "PRINTED", "RETURNED",
            "TYPENAME", "SYNTAXFILE", "ZIPMEMBER", "WRAPPER", "OUTLINE", "QUALNAME"]

# Safe in a file name and in a folder name: no "/" and no NUL.
FRAME_FILE = "FRAMEFILE\r\r<img src=x onerror=alert(1)>\r\r[click](javascript:alert(1)) ``` `.py"
SYNTAX_FILE = "SYNTAXFILE\r\r<img src=x onerror=alert(2)>\r\r[click](javascript:alert(2)) ```.py"
WRAPPER = "WRAPPER\r\r<img src=x onerror=alert(3)>\r\r[click](evil.example) ```"  # no ":" (a drive letter)
ZIP_MEMBER = "../ZIPMEMBER\r\r<img src=x onerror=alert(4)>\r\r[click](https://evil.example/4) ```.py"

ACTIVATIONS_TAIL = f'''

import importlib.util as _util
import os as _os

_spec = _util.spec_from_file_location("hostile_frames", _os.path.join(_os.path.dirname(__file__), {FRAME_FILE!r}))
_frames = _util.module_from_spec(_spec)
_spec.loader.exec_module(_frames)


def _sigmoid_forward(self, x):
    print({payload("PRINTED")!r})
    _frames.explode()


Sigmoid.forward = _sigmoid_forward


class _Shown(LeakyReLU):
    def __call__(self, x):
        return {payload("RETURNED", line_breaks=False)!r}


LeakyReLU.__call__ = _Shown.__call__
'''

FRAME_MODULE = f'''
class Evil(Exception):
    pass


Evil.__name__ = Evil.__qualname__ = {payload("EXCNAME")!r}


MESSAGE = {payload("EXCMESSAGE")!r}


def explode():
    raise Evil(MESSAGE)  # {payload("FRAMESOURCE", line_breaks=False)}


explode.__code__ = explode.__code__.replace(co_name={payload("FRAMEFUNC")!r})
if hasattr(explode.__code__, "co_qualname"):
    explode.__code__ = explode.__code__.replace(co_qualname={payload("FRAMEFUNC")!r})
'''

LOSSES_TAIL = f'''

class _Odd:
    pass


_Odd.__name__ = _Odd.__qualname__ = {payload("TYPENAME")!r}


def _odd_call(self, y_pred, y_true):
    return _Odd()


MeanSquaredError.__call__ = _odd_call
'''

PREPROCESS_TAIL = f'''


def load_and_preprocess_data():
    return [{payload("OUTLINE")!r}]
'''

# 12.1 times the parts of one batch when `fit` runs out of time; the layer's class name is shown.
ASSIGNMENT_TAIL = f'''


import time as _time


class _Slow(Dense):
    pass


_Slow.__qualname__ = {payload("QUALNAME")!r}


def get_model(two_layer=False):
    return SequentialModel([_Slow(784, 10, initializer="xavier"), Softmax()])


def _sleeping_fit(self, *args, **kwargs):
    _time.sleep(60)


SequentialModel.fit = _sleeping_fit
'''

TESTS = ("test_sigmoid_forward or test_leaky_relu_forward or test_mse_value or test_load_and_preprocess_data"
         " or test_end_to_end_training_accuracy")


def hostile_zip(reference: Path, tmp: Path) -> Path:
    folder = copy_of(reference, tmp / "hostile")
    (folder / "beras" / "activations.py").write_text((folder / "beras" / "activations.py").read_text() + ACTIVATIONS_TAIL)
    (folder / "beras" / "losses.py").write_text((folder / "beras" / "losses.py").read_text() + LOSSES_TAIL)
    (folder / "preprocess.py").write_text((folder / "preprocess.py").read_text() + PREPROCESS_TAIL)
    (folder / "assignment.py").write_text((folder / "assignment.py").read_text() + ASSIGNMENT_TAIL)
    (folder / "beras" / FRAME_FILE).write_text(FRAME_MODULE)
    (folder / "beras" / SYNTAX_FILE).write_text("def broken(:\n")
    archive = tmp / "submission.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{WRAPPER}/{path.relative_to(folder).as_posix()}")
        zf.writestr(ZIP_MEMBER, "print('never extracted')\n")
    return archive


def live_markup(markdown: str) -> list[str]:
    """What CommonMark would render as HTML or as a link/image, and the HTML it produces."""
    found = []
    md = MarkdownIt("commonmark")
    todo = list(md.parse(markdown))
    while todo:
        token = todo.pop()
        if token.type in ("html_block", "html_inline", "link_open", "image"):
            found.append(f"{token.type}: {token.content or token.attrs}")
        todo.extend(token.children or ())
    page = md.render(markdown)
    found += [f"rendered: {tag}" for tag in re.findall(r"<(?:img|a|script)\b[^>]*>", page)]
    # Headings and emphasis are ours to write, never student text's: none may hold a channel.
    found += [f"rendered: {line}" for line in re.findall(r"<(?:h\d|strong|em)>[^<]*</", page)
              if any(channel in line for channel in [*CHANNELS, "SUBMITTER", "-end"])]
    return found


@pytest.fixture(scope="module")
def hostile_doc(reference_dir, mnist_dir, tmp_path_factory):
    doc, _ = graded(hostile_zip(reference_dir, tmp_path_factory.mktemp("untrusted")),
                    extra_pytest_args=["-k", TESTS])
    return doc


def output_fields(doc: dict) -> dict[str, str]:
    fields = {"output": doc.get("output", "")}
    fields.update({f"tests[{t.get('number')}] {name}": str(t.get(name, ""))
                   for t in doc["tests"] for name in ("output", "name")})
    return fields


def test_every_channel_reached_results_json_as_inert_text(hostile_doc):
    fields = output_fields(hostile_doc)
    everything = "\n".join(fields.values())
    missing = [c for c in CHANNELS if c not in everything]
    assert not missing, f"the attack did not reach results.json through {missing}:\n{everything[:4000]}"
    for where, text in fields.items():
        assert not live_markup(text), f"{where} renders live markup {live_markup(text)}:\n{text[:3000]}"
        assert not CONTROL.search(text), f"{where} holds a control character: {text[:1000]!r}"
    assert hostile_doc["score"] < sum(t["max_score"] for t in hostile_doc["tests"])


def test_the_console_shows_no_control_character(hostile_doc):
    table = summary_table(hostile_doc, details=True)
    assert "EXCNAME" in table and "ZIPMEMBER" in table  # the attack is on screen, as text
    assert not CONTROL.search(table), repr(table[:2000])


def test_the_report_page_shows_student_text_escaped(hostile_doc, tmp_path):
    out = tmp_path / "regrade"
    write_json_atomic(out / "submission_1" / RESULTS_NAME, hostile_doc)
    write_json_atomic(out / "submission_1" / RECORD_NAME, {
        "submission_id": "submission_1", "status": GRADED, "error": None, "duration_s": 3.0, "options": {},
        "submitters": [{"name": payload("SUBMITTER"), "email": "a@x.edu", "sid": "1"}]})
    write_tables(out)
    page = render(out)
    assert "SUBMITTER" in page and "evil.example" in page  # shown, as text
    assert report_page_problems(page) == []


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def report_page_problems(page: str) -> list[str]:
    """What the TA report page would make live of student text: links, scripts, frames,
    images other than its own two charts, event handlers, control characters."""
    parser = _Tags()
    parser.feed(page)
    problems = [f"<{t}>" for t, a in parser.tags if t in ("a", "script", "iframe", "object")]
    problems += [f"<img {a}>" for t, a in parser.tags
                 if t == "img" and a.get("id") not in ("score-histogram", "pass-rate-chart")]
    problems += [f"<{t} {k}=...>" for t, a in parser.tags for k in a if k.startswith("on")]
    problems += [f"control character {m.group()!r}" for m in CONTROL.finditer(page)]
    return problems


HOSTILE_TEXT = [
    payload("A"), "`", "``", "a`b", "`start", "end`", " spaced ", "", "```\n# heading\n<div>x</div>\n```",
    "x\r\r<img src=x onerror=alert(1)>", "line\u2028<img src=x>", "\x85<script>alert(1)</script>",
    "&lt;img src=x&gt; &#60;img&#62;", "\\`<img src=x>\\`", "[a](javascript:alert(1))",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_code_spans_and_fences_stay_closed(text):
    md = MarkdownIt("commonmark")
    span = untrusted.code_span(text, cap=None)
    document = f"- Before {span} after\n\n> quoted {span}\n\nParagraph {span}.\n\n{untrusted.fence(text)}\n\nAfter.\n"
    assert not live_markup(document), (document, live_markup(document))
    tokens = md.parseInline(f"x {span} y")[0].children
    codes = [t.content for t in tokens if t.type == "code_inline"]
    assert len(codes) == 1
    expected = untrusted.clean(text, newlines=False, tabs=False)
    assert codes[0] == (expected if expected else " ")  # the text itself, exactly
    fence_tokens = [t for t in md.parse(untrusted.fence(text)) if t.type == "fence"]
    assert [t.content for t in fence_tokens] == [untrusted.clean(text) + "\n"]
    assert md.render(untrusted.fence(text)).endswith("</code></pre>\n")  # nothing after the block


# What turns a student's value into text (repr, a type's qualname), and what renders text safely.
STUDENT_TEXT = {"show", "type_name", "repr"}
RENDERERS = {"code_span", "code_block", "fence"}


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return None


def raw_student_text(path: Path) -> list[str]:
    """f-strings of `path` that put student text into Markdown neither inside a code span
    (`...{show(x)}...`, show() only) nor as the text a renderer (code_span, code_block,
    fence) is given. A type name (12.1's `{worker.type_name(layer)}` once) holds backticks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rendered = {id(arg) for node in ast.walk(tree) if _called(node) in RENDERERS for arg in node.args}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or id(node) in rendered:
            continue
        values = node.values
        for i, value in enumerate(values):
            if isinstance(value, ast.FormattedValue) and _called(value.value) in STUDENT_TEXT:
                before = values[i - 1].value if i and isinstance(values[i - 1], ast.Constant) else ""
                after = values[i + 1].value if i + 1 < len(values) and isinstance(values[i + 1], ast.Constant) else ""
                # Between backticks is safe only for show(), which spells a backtick \x60.
                spanned = str(before).endswith("`") and str(after).startswith("`")
                if not (spanned and _called(value.value) == "show"):
                    found.append(f"{path.name}:{value.lineno}: {ast.unparse(value.value)}")
    return found


def test_the_graded_suite_writes_student_text_only_through_a_span_or_a_fence():
    # One path for student text (issue 18 #5): a value's repr or a type name in our Markdown
    # sits between backticks (show() spells a backtick \x60) or goes through untrusted.py.
    suite = Path(__file__).resolve().parents[1] / "graded"
    found = [line for path in sorted(suite.rglob("*.py")) for line in raw_student_text(path)]
    assert found == []
