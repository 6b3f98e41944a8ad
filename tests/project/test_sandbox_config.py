"""The worker's memory limit fits the container: read from cgroup v2 or v1, lowered, never raised."""
from autograder.sandbox import SandboxConfig
from autograder.sandbox.grader.config import GRADER_SHARE_MB, MIN_WORKER_MB, container_memory_mb, fitted_memory_mb

MB = 1024 * 1024


def cgroup_tree(tmp_path, proc_lines, files):
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("".join(line + "\n" for line in proc_lines))
    return str(root), str(proc)


def test_cgroup_v2_memory_max_of_our_group(tmp_path):
    root, proc = cgroup_tree(tmp_path, ["0::/docker/abc"], {"docker/abc/memory.max": f"{768 * MB}\n",
                                                          "memory.max": "max\n"})
    assert container_memory_mb(root, proc) == 768


def test_cgroup_v1_limit_and_unlimited(tmp_path):
    root, proc = cgroup_tree(tmp_path, ["4:memory:/process_api/x", "0::/"],
                             {"memory/process_api/x/memory.limit_in_bytes": f"{2048 * MB}\n",
                              "memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert container_memory_mb(root, proc) == 2048
    root, proc = cgroup_tree(tmp_path / "free", ["4:memory:/"], {"memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert container_memory_mb(root, proc) is None
    assert container_memory_mb(str(tmp_path / "nothing"), str(tmp_path / "no-proc")) is None  # macOS, Windows


def test_limit_is_lowered_to_the_container_never_raised():
    # Gradescope's default container: 768 MB. The worker gets what the grader leaves, at least a floor.
    assert fitted_memory_mb(1536, container_mb=768) == max(MIN_WORKER_MB, 768 - GRADER_SHARE_MB)
    assert fitted_memory_mb(1536, container_mb=3072) == 1536
    assert fitted_memory_mb(100, container_mb=768) == 100  # an explicit small limit stays
    assert SandboxConfig(memory_mb=1536).memory_mb == fitted_memory_mb(1536)
