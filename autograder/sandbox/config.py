"""SandboxConfig: limits and policy for running student code, from autograder.cfg or code."""
import configparser
from dataclasses import dataclass, field, fields, replace
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class SandboxConfig:
    forbidden: Tuple[str, ...] = ("tensorflow", "keras", "torch", "jax", "sklearn")
    stand_ins: Tuple[str, ...] = ("tqdm", "matplotlib")
    call_timeout_s: float = 20.0     # wall clock, per remote call
    cpu_s: int = 120                 # CPU seconds, per worker (RLIMIT_CPU)
    memory_mb: int = 1536            # address space, per worker process (RLIMIT_AS)
    file_size_mb: int = 64           # largest file the worker may write (RLIMIT_FSIZE)
    max_processes: int = 64          # processes of the sandbox user (RLIMIT_NPROC)
    scratch_mb: int = 1024           # all the workers' writable files together (a tmpfs, when root)
    output_kb: int = 64              # captured stdout+stderr kept per worker; the rest is counted
    max_value_mb: int = 256          # largest message either way (arrays included)
    start_timeout_s: float = 60.0    # zygote start (imports numpy)
    network: bool = False            # when root, workers get no network unless this is true
    user: Optional[str] = None       # when root; default $AUTOGRADER_SANDBOX_USER or beras-sandbox
    python: Optional[str] = None     # interpreter for the worker; default sys.executable
    env: Dict[str, str] = field(default_factory=dict)  # extra environment for the worker
    in_process: bool = False         # BENCHMARK ONLY: same API, student code in this process

    @classmethod
    def from_file(cls, path, section="sandbox", **overrides):
        """Read the [sandbox] section of an autograder.cfg; keyword overrides win."""
        parser = configparser.ConfigParser()
        with open(path) as f:
            parser.read_file(f)
        values = {}
        if parser.has_section(section):
            types = {f.name: f.type for f in fields(cls)}
            for key, raw in parser.items(section):
                if key not in types:
                    raise ValueError(f"{path}: unknown setting {key!r} in [{section}]")
                values[key] = _parse(types[key], raw, key, path)
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes):
        return replace(self, **changes)


def _parse(type_, raw, key, path):
    text = str(type_)
    raw = raw.strip()
    try:
        if "Tuple" in text:
            return tuple(raw.split())
        if text in ("<class 'bool'>", "bool"):
            return raw.lower() in ("1", "true", "yes", "on")
        if text in ("<class 'int'>", "int"):
            return int(raw)
        if text in ("<class 'float'>", "float"):
            return float(raw)
        if "Dict" in text:
            return dict(item.split("=", 1) for item in raw.split())
        return raw or None
    except ValueError:
        raise ValueError(f"{path}: bad value {raw!r} for {key}") from None
