"""Run by test_sandbox_isolation as an ordinary (non-root) user: the same sandbox, no user
switch. Prints one JSON line of findings."""
import json
import os
import sys
from pathlib import Path

from autograder.sandbox import Sandbox, SandboxConfig, StudentError, WorkerCrashed, fetch, processes

cases = Path(sys.argv[1])
found = {"my_uid": os.getuid()}
with Sandbox(cases / "hostile", SandboxConfig(call_timeout_s=5, max_processes=16)) as box:
    found["user"] = box.user
    with box.worker() as w:
        h = w.import_module("hostile")
        uid, gid, cwd, env = fetch(h.whoami())
        found.update(worker_uid=uid, cwd_in_sandbox=cwd.startswith(str(box.sandbox_dir)))
        pid = fetch(h.daemon())
        limits_text = fetch(h.read_file("/proc/self/limits"))
        found["core_limit_zero"] = any(l.startswith("Max core file size") and l.split()[4] == "0"
                                       for l in limits_text.splitlines())
    found["daemon_gone"] = processes.read_proc(pid) is None
    found["layers"] = box.layers
    with box.worker() as w:  # student code kills the zygote (same user: possible without Landlock's signal scope)...
        zygote = box._zygote.pid
        try:
            w.import_module("os").kill(zygote, 9)
        except StudentError as exc:
            found["kill_zygote_error"] = exc.type_name
    with box.worker() as w:  # ...and the next worker still comes, from a new zygote
        found["next_worker"] = fetch(w.import_module("hostile").sleep(0))
        found["new_zygote"] = box._zygote.pid != zygote
    with box.worker() as w:
        try:
            w.import_module("hostile").os_exit(7)
        except WorkerCrashed as exc:
            found["crash"] = exc.message
print(json.dumps(found))
