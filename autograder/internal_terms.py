"""The engine's own words, which mean nothing to a student: none may reach what students read
(results.json's outputs, the console). tests/project/test_plain_words.py greps the results of
several gradings for them; a message that needs one of these ideas says it in plain words
("the process running your code", "reading the value of ...")."""
from __future__ import annotations

import re

INTERNAL_TERMS = ("BadValue", "BadValueError", "Remote", "handle", "handles", "worker", "workers",
                  "fetch", "fetched", "fetching", "zygote", "ProtocolError", "StudentError",
                  "WorkerCrashed", "WorkerTimeout", "SandboxError", "nodeid", "_agsandbox")

_PATTERN = re.compile(r"\b(" + "|".join(map(re.escape, INTERNAL_TERMS)) + r")\b")


def internal_terms_in(text: str) -> list[str]:
    """The internal terms `text` uses, each with a little context."""
    return [text[max(0, m.start() - 60):m.end() + 40] for m in _PATTERN.finditer(text)]
