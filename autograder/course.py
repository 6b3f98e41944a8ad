"""The course configuration (autograder.cfg): read once, here, into one typed, frozen object.

Every reader takes a `Course`: grading (grading.py, the pytest plugin and through it the
suite), the build, the template generator and the TA tools. Nothing else parses the file.

    [autograder]  where the suite, its public part, the reference and the handout are
                  (relative to the file's folder), the kit's extra files, the time limits
    [data]        the data files the build bundles into autograder.zip
    [sandbox]     the sandbox's limits and policy, as a `SandboxConfig`

An unknown key is an error, not a silent default: a misspelt limit must not grade a class
under another limit than the one written.
"""
from __future__ import annotations

import configparser
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from autograder.sandbox.grader.config import SandboxConfig

ENGINE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding autograder/ and autograder.cfg
CONFIG_ENV = "AUTOGRADER_CONFIG"
DEFAULT_TEST_TIMEOUT_S = 180.0
DEFAULT_TOTAL_TIMEOUT_S = 540.0  # under Gradescope's default 10-minute limit, with room to finish

AUTOGRADER_KEYS = {"suite", "public_suite", "reference", "template", "kit_files", "kit_recording",
                   "test_timeout_s", "total_timeout_s", "set_aside_syntax_errors",
                   "set_aside_import_errors"}
DATA_KEYS = {"folder", "from_env", "required"}


class ConfigError(ValueError):
    """The configuration file says something the engine cannot use (the message names it)."""


@dataclass(frozen=True)
class DataFiles:
    """[data]: files grading reads, bundled by the build under `folder` from the folder named
    by the environment variable `from_env`; the build refuses to go without the `required`."""

    folder: str = "data"
    from_env: str = ""
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Course:
    """autograder.cfg, its paths resolved against the file's folder."""

    config_path: Path
    root: Path
    suite: Path
    public_suite: Path
    reference: Path
    template: Path
    kit_files: tuple[str, ...] = ()
    # A file the public suite writes while the build grades the reference on it (build.py,
    # RECORD_ENV names where), shipped in the kit at this path; "" for none.
    kit_recording: str = ""
    test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S
    total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S
    # Partial work keeps its points: a block Python cannot read is replaced by a stub that
    # raises its error, so the rest of the file is graded (autograder/partial.py).
    set_aside_syntax_errors: bool = True
    # ... and a module that raises while it is imported is kept as far as it ran, so only the
    # tests needing what it never reached fail (sandbox/inside/partial_import.py; carried to the
    # workers as `sandbox.keep_partial_imports`).
    set_aside_import_errors: bool = True
    data: DataFiles | None = None  # None: the course has no [data] section
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    @property
    def forbidden(self) -> tuple[str, ...]:
        """Libraries a submission may not use (the static scan warns, the sandbox refuses)."""
        return self.sandbox.forbidden

    @property
    def stand_ins(self) -> tuple[str, ...]:
        """Libraries replaced by harmless stand-ins while grading (e.g. plotting)."""
        return self.sandbox.stand_ins


def config_path(explicit: Path | str | None = None) -> Path:
    """The file to read: the one given, else $AUTOGRADER_CONFIG, else the engine's own."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).resolve()
    return ENGINE_ROOT / "autograder.cfg"


def load(explicit: Path | str | None = None) -> Course:
    """The course of `explicit` (or config_path()'s default). Raises FileNotFoundError when
    there is no such file and ConfigError when a value is unusable."""
    path = config_path(explicit)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"no autograder configuration at {path}") from None
    except configparser.Error as err:
        raise ConfigError(f"{path}: {err}") from None
    section = _section(parser, "autograder", AUTOGRADER_KEYS, path)
    root = path.parent
    import_errors = _value(bool, section.get("set_aside_import_errors", "yes"), "set_aside_import_errors", path)

    def where(key: str, default: str) -> Path:
        return (root / section.get(key, default)).resolve()

    return Course(
        config_path=path,
        root=root,
        suite=where("suite", "tests/graded"),
        public_suite=where("public_suite", "tests/graded/public"),
        reference=where("reference", "reference"),
        template=where("template", "student_template"),
        kit_files=tuple(section.get("kit_files", "").split()),
        kit_recording=section.get("kit_recording", "").strip(),
        test_timeout_s=_value(float, section.get("test_timeout_s", DEFAULT_TEST_TIMEOUT_S), "test_timeout_s", path),
        total_timeout_s=_value(float, section.get("total_timeout_s", DEFAULT_TOTAL_TIMEOUT_S), "total_timeout_s", path),
        set_aside_syntax_errors=_value(bool, section.get("set_aside_syntax_errors", "yes"),
                                       "set_aside_syntax_errors", path),
        set_aside_import_errors=import_errors,
        data=_data(parser, path),
        sandbox=_sandbox(parser, path).with_(keep_partial_imports=import_errors),
    )


def _section(parser: configparser.ConfigParser, name: str, keys: set[str], path: Path) -> dict[str, str]:
    if not parser.has_section(name):
        return {}
    values = dict(parser[name])
    unknown = sorted(set(values) - keys)
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} in [{name}]")
    return values


def _data(parser: configparser.ConfigParser, path: Path) -> DataFiles | None:
    if not parser.has_section("data"):
        return None
    section = _section(parser, "data", DATA_KEYS, path)
    return DataFiles(folder=section.get("folder", "data").strip("/"), from_env=section.get("from_env", "").strip(),
                     required=tuple(section.get("required", "").split()))


def _sandbox(parser: configparser.ConfigParser, path: Path) -> SandboxConfig:
    types = typing.get_type_hints(SandboxConfig)
    # keep_partial_imports is [autograder]'s set_aside_import_errors: one place to set it.
    keys = {f.name for f in fields(SandboxConfig)} - {"keep_partial_imports"}
    section = _section(parser, "sandbox", keys, path)
    return SandboxConfig(**{key: _value(types[key], raw, key, path) for key, raw in section.items()})


def _value(type_: Any, raw: Any, key: str, path: Path) -> Any:
    """`raw` (text from the file, or a default) as the setting's type."""
    text = str(raw).strip()
    origin = typing.get_origin(type_)
    if origin is typing.Union:  # Optional[X]: an empty value is None
        inner = [t for t in typing.get_args(type_) if t is not type(None)][0]
        return _value(inner, text, key, path) if text else None
    try:
        if origin is tuple:
            return tuple(text.split())
        if origin is dict:
            return dict(item.split("=", 1) for item in text.split())
        if type_ is bool:
            if text.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if type_ in (int, float):
            return type_(text)
        return text
    except ValueError:
        raise ConfigError(f"{path}: bad value {text!r} for {key}") from None
