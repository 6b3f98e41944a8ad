#!/usr/bin/env bash
# What test_gradescope_container.py needs, on Debian, as root (.ci/run calls this):
#   podman, debootstrap (and unshare, from util-linux)   Debian packages, installed
#   Docker's own default seccomp profile and capability set, unpacked (not installed: the
#   package is Docker's Go source, and installing it would pull in some 260 Go libraries)
#   from Debian's golang-github-docker-docker-dev, the source of its docker.io package,
#   into $DOCKER_DEFAULTS (default /var/cache/beras-autograder/docker-defaults):
#     seccomp.json    profiles/seccomp/default.json, the profile docker.io applies
#     caps.go         oci/caps/defaults.go, the capabilities a docker.io container gets
#     version         the package's version
set -euo pipefail
DEST="${DOCKER_DEFAULTS:-/var/cache/beras-autograder/docker-defaults}"
PACKAGE=golang-github-docker-docker-dev
SOURCE=usr/share/gocode/src/github.com/docker/docker

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
updated=0
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && updated=1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -s "$DEST/seccomp.json" ] || [ ! -s "$DEST/caps.go" ]; then
  [ "$updated" = 1 ] || apt-get update -qq
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # apt-get download writes where it runs; _apt cannot write a mktemp folder, hence -o.
  (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$PACKAGE")
  dpkg-deb -x "$work"/${PACKAGE}_*.deb "$work/x"
  mkdir -p "$DEST.new"
  cp "$work/x/$SOURCE/profiles/seccomp/default.json" "$DEST.new/seccomp.json"
  cp "$work/x/$SOURCE/oci/caps/defaults.go" "$DEST.new/caps.go"
  dpkg-deb -f "$work"/${PACKAGE}_*.deb Version > "$DEST.new/version"
  rm -rf "$DEST" && mv "$DEST.new" "$DEST"
fi
echo "container tools: $(podman --version), debootstrap $(dpkg-query -W -f='${Version}' debootstrap), Docker defaults from $PACKAGE $(cat "$DEST/version") in $DEST"
