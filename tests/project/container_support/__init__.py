"""Gradescope's container, rebuilt here: podman with Docker's default capabilities and
Docker's default seccomp profile (from Debian's own Docker source package), on a minimal
debootstrapped Debian, no cgroup of the host created, moved or limited.

    rootfs = base_rootfs()                        # debootstrap, cached by what it is made of
    image = prepared_image(rootfs, zip_path)      # unzip + setup.sh (network), cached by the zip
    doc, log = grade(image, submission_dir)       # run_autograder, --network none, fresh overlay

Two quirks of these machines, which plain Docker on a cgroup-v2 host would not need:
- crun refuses to start while a cgroup-v2 mount sits beside cgroup v1, so podman runs with
  cgroups disabled, inside a private mount namespace (`unshare -m`) where the v2 mount is
  covered by an empty tmpfs. Nothing of the host's cgroups is touched.
- root cannot raise RLIMIT_NOFILE (nor podman's RLIMIT_NPROC) here, so a private
  containers.conf sets `default_ulimits` to what the host allows.
- pip in the container reaches the package index only through the host's locally added CA
  certificates (/usr/local/share/ca-certificates), copied into the root filesystem.
Podman's state (its storage, run and temp folders) lives in a folder of the caller's, removed
after each run: no image store, network or container outlives the test.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTALL_TOOLS = HERE / "install-tools.sh"
CACHE = Path(os.environ.get("BERAS_CONTAINER_CACHE", "/var/cache/beras-autograder/gradescope-container"))
DOCKER_DEFAULTS = Path(os.environ.get("DOCKER_DEFAULTS", "/var/cache/beras-autograder/docker-defaults"))
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "libseccomp2", "ca-certificates")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
RECIPE = "1"  # bump when the way a root filesystem or image is made changes
KEEP_IMAGES = 2


def missing_tools() -> list[str]:
    """What this machine lacks for the container test (empty when it can run)."""
    missing = [tool for tool in ("podman", "debootstrap", "unshare", "chroot") if shutil.which(tool) is None]
    if not (DOCKER_DEFAULTS / "seccomp.json").is_file() or not (DOCKER_DEFAULTS / "caps.go").is_file():
        missing.append(f"Docker's default seccomp profile and capabilities in {DOCKER_DEFAULTS}")
    return missing


def docker_seccomp_profile() -> Path:
    return DOCKER_DEFAULTS / "seccomp.json"


def docker_capabilities() -> list[str]:
    """Docker's default capability set, as its own source lists it (oci/caps/defaults.go)."""
    caps = re.findall(r'"CAP_([A-Z_]+)"', (DOCKER_DEFAULTS / "caps.go").read_text())
    assert "SYS_ADMIN" not in caps and len(caps) >= 10, caps
    return caps


def debian_mirror() -> str:
    """The mirror this machine's apt uses (CI's machine reaches the same registries)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        found = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", path.read_text(), re.M)
        if found:
            return found.group(1)
    try:
        found = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", Path("/etc/apt/sources.list").read_text(), re.M)
    except OSError:
        found = None
    return found.group(1) if found else "http://deb.debian.org/debian"


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _local_cas() -> list[Path]:
    return sorted(LOCAL_CAS.glob("**/*.crt")) if LOCAL_CAS.is_dir() else []


@contextmanager
def _locked(name: str):
    """One builder at a time per cache entry (CI and a developer, or two test runs)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_rootfs(log=print) -> Path:
    """A minimal Debian (python3, venv, libseccomp2, CA certificates), debootstrapped once
    and kept under CACHE by what went into it."""
    mirror = debian_mirror()
    cas = _local_cas()
    key = _digest(RECIPE, SUITE, PACKAGES, mirror, *[p.read_bytes() for p in cas])
    final = CACHE / f"rootfs-{key}"
    with _locked("rootfs"):
        if (final / ".complete").is_file():
            return final
        for stale in CACHE.glob("rootfs-*"):  # an older recipe, or a build that was cut short
            shutil.rmtree(stale, ignore_errors=True)
        building = CACHE / f"building-{key}"
        shutil.rmtree(building, ignore_errors=True)
        started = time.monotonic()
        _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, str(building), mirror],
             timeout=1200)
        if cas:  # see the module's docstring: only for pip behind this workplace's proxy
            dest = building / "usr/local/share/ca-certificates"
            dest.mkdir(parents=True, exist_ok=True)
            for ca in cas:
                shutil.copy(ca, dest / ca.name)
            _run(["chroot", str(building), "update-ca-certificates"], timeout=300)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (building / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        (building / ".complete").write_text(f"{SUITE} {PACKAGES} {mirror}\n")
        building.rename(final)
        log(f"container: debootstrapped {SUITE} in {time.monotonic() - started:.0f} s: {final}")
        return final


def prepared_image(rootfs: Path, autograder_zip: Path, log=print) -> Path:
    """Gradescope's image build: the zip's contents in /autograder/source, run_autograder
    copied to /autograder/run_autograder, then setup.sh as root with the network. Kept under
    CACHE by the root filesystem and the zip's bytes (the newest KEEP_IMAGES only).

    No sandbox user is made: each grading makes its own with a random uid (the container
    shares the host's uids, as Docker's do, so a uid fixed in the image could meet a grading
    of the host, whose kill(-1) sweep would reach into the container)."""
    key = _digest(RECIPE, rootfs.name, autograder_zip.read_bytes())
    final = CACHE / f"image-{key}"
    with _locked("image"):
        if (final / ".complete").is_file():
            os.utime(final)
            return final
        building = CACHE / f"building-image-{key}"
        shutil.rmtree(building, ignore_errors=True)
        started = time.monotonic()
        _run(["cp", "-a", "--reflink=auto", str(rootfs), str(building)], timeout=600)
        (building / ".complete").unlink()
        source = building / "autograder" / "source"
        source.mkdir(parents=True)
        with zipfile.ZipFile(autograder_zip) as zf:
            zf.extractall(source)
            for info in zf.infolist():  # zipfile drops modes; Gradescope's unzip keeps them
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    (source / info.filename).chmod(mode)
        shutil.copy2(source / "run_autograder", building / "autograder" / "run_autograder")
        done = run_container(building, ["bash", "/autograder/source/setup.sh"], network=True, overlay=False,
                             workdir="/autograder/source", timeout=1200)
        if done.returncode != 0:
            raise AssertionError(f"setup.sh failed in the container ({done.returncode}):\n{done.stdout[-6000:]}")
        (building / ".complete").write_text(done.stdout)
        building.rename(final)
        log(f"container: setup.sh ran in {time.monotonic() - started:.0f} s: {final}")
        images = sorted(CACHE.glob("image-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in images[KEEP_IMAGES:]:
            shutil.rmtree(old, ignore_errors=True)
        return final


def grade(image: Path, submission: Path, work: Path, timeout: float = 900) -> tuple[dict, str]:
    """One submission in a fresh container of `image` (an overlay: nothing it writes stays),
    as Gradescope runs it: /autograder/run_autograder as root, from /autograder, no network.
    Returns results.json and the staff log (the run's output)."""
    sub, results = work / "submission", work / "results"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(submission, sub)
    results.mkdir(mode=0o700)
    (work / "submission_metadata.json").write_text(json.dumps({"id": 1, "submission_method": "upload"}))
    done = run_container(image, ["/autograder/run_autograder"], network=False, overlay=True, workdir="/autograder",
                         binds=[(sub, "/autograder/submission"), (results, "/autograder/results"),
                                (work / "submission_metadata.json", "/autograder/submission_metadata.json")],
                         timeout=timeout)
    assert done.returncode == 0, f"run_autograder exited {done.returncode}:\n{done.stdout[-6000:]}"
    return json.loads((results / "results.json").read_text()), done.stdout


def run_container(rootfs: Path, argv: list[str], network: bool, overlay: bool, workdir: str = "/",
                  binds=(), timeout: float = 900) -> subprocess.CompletedProcess:
    """`argv` as root in a container restricted as Docker restricts Gradescope's: Docker's
    default capabilities and seccomp profile, no network unless `network` (then the host's:
    podman creates no bridge), and no cgroup. Podman's own state is private and removed."""
    state = Path(tempfile.mkdtemp(prefix="beras-podman-", dir="/var/tmp"))
    try:
        conf = state / "containers.conf"
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)  # podman lowers its own to 32768
        conf.write_text("[containers]\n"
                        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                        "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\n")
        podman = ["podman", "--root", str(state / "storage"), "--runroot", str(state / "run"),
                  "--tmpdir", str(state / "tmp"), "--storage-driver", "overlay"]
        command = podman + ["run", "--rm", "--cgroups=disabled", "--network", "host" if network else "none",
                            "--cap-drop=all", "--cap-add=" + ",".join(docker_capabilities()),
                            "--security-opt", f"seccomp={docker_seccomp_profile()}",
                            "--workdir", workdir,
                            "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            "--env", "LANG=C.UTF-8"]
        for host, inside in binds:
            command += ["--volume", f"{host}:{inside}"]
        command += ["--rootfs", f"{rootfs}:O" if overlay else str(rootfs), *argv]  # the path stands for the image
        env = {**CLEAN_ENV, "CONTAINERS_CONF": str(conf), "HOME": str(state)}
        return _run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     _hide_cgroup_v2() + 'exec "$@"', "sh", *command], timeout=timeout, env=env, check=False)
    finally:
        _stop_leftovers(state)
        shutil.rmtree(state, ignore_errors=True)


def _hide_cgroup_v2() -> str:
    """Shell that covers every cgroup-v2 mount sitting beside cgroup v1 with an empty tmpfs
    (in the private mount namespace only)."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    v1 = any(fields[2] == "cgroup" for fields in mounts)
    covers = [fields[1] for fields in mounts if fields[2] == "cgroup2"] if v1 else []
    return "".join(f"mount -t tmpfs -o size=4k,mode=755 none '{path}' && " for path in covers)


def _stop_leftovers(state: Path) -> None:
    """conmon and podman's clean-up run on briefly after `podman run --rm`; wait for them
    (they hold our private state), then end any still there, by pid."""
    deadline = time.monotonic() + 20
    while True:
        pids = _processes_mentioning(str(state))
        if not pids:
            return
        if time.monotonic() > deadline:
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
            return
        time.sleep(0.2)


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    needle = text.encode()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                if needle in Path(f"/proc/{name}/cmdline").read_bytes():
                    pids.append(int(name))
            except OSError:
                pass
    return pids


CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _run(argv, timeout, env=None, check=True) -> subprocess.CompletedProcess:
    """`argv` with a clean environment: nothing of the test run (its TMPDIR, pip's settings)
    reaches debootstrap, chroot or podman."""
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          timeout=timeout, env=env or CLEAN_ENV, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv[:3]))} ... exited {done.returncode}:\n{done.stdout[-6000:]}")
    return done
