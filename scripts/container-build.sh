#!/bin/bash
# Build the acg2vec image (Containerfile) with podman: `make container`.
#
# BASE_IMAGE (default: localhost/acg2vec-base:bookworm, made by scripts/container-base.sh from Debian's packages
# when missing; python:3.11-slim wherever a registry is at hand). IMAGE: the tag (localhost/acg2vec:latest).
# pip inside the build uses this machine's pip settings (`pip config list`: index, extra indexes, find-links,
# constraint, cert), written to a pip.conf mounted at /etc/pip.conf for the build only, with every local folder
# or file:// index they name mounted read-only at the same path. Nothing of them stays in the image.
set -eu
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-localhost/acg2vec-base:bookworm}
IMAGE=${IMAGE:-localhost/acg2vec:latest}
PODMAN=${PODMAN:-podman --runtime runc --cgroup-manager cgroupfs}
PYTHON=${PYTHON:-python3}
# Explicit limits: open files up to this shell's hard limit (runc cannot raise it), 4096 processes.
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu); [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 4096 ] && NPROC=4096
ULIMITS=${CONTAINER_ULIMITS:---ulimit nofile=$NOFILE:$NOFILE --ulimit nproc=$NPROC:$NPROC}

if [ "$BASE_IMAGE" = localhost/acg2vec-base:bookworm ]; then
    ACG2VEC_BASE_IMAGE=$BASE_IMAGE PODMAN="$PODMAN" sh scripts/container-base.sh
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The host's pip settings as one pip.conf, and the -v options of the local paths they name.
"$PYTHON" -m pip config list > "$work/settings" 2>/dev/null || true
"$PYTHON" - "$work" <<'PY'
import os, shlex, sys
work = sys.argv[1]
keys = ("index-url", "extra-index-url", "find-links", "constraint", "cert", "trusted-host", "default-timeout")
settings = {}
for line in open(os.path.join(work, "settings"), encoding="utf-8"):
    name, _, value = line.strip().partition("=")
    key = name.split(".", 1)[-1]
    if key in keys:
        settings[key] = value.strip("'\"")  # :env: lines come last in pip's listing and win, as in pip
mounts = set()
for value in settings.values():
    for word in value.split():
        path = word[len("file://"):] if word.startswith("file://") else word
        if word.startswith("file://") and os.path.basename(path.rstrip("/")) == "simple":
            path = os.path.dirname(path.rstrip("/"))  # an index's pages link to files beside simple/
        if path.startswith("/") and os.path.exists(path):
            mounts.add(path)
with open(os.path.join(work, "pip.conf"), "w", encoding="utf-8") as conf:
    conf.write("[global]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
with open(os.path.join(work, "mounts"), "w", encoding="utf-8") as out:
    out.write(" ".join(f"-v {shlex.quote(os.path.realpath(p))}:{shlex.quote(p)}:ro" for p in sorted(mounts)))
extra = settings.get("extra-index-url", "")
with open(os.path.join(work, "extra-index"), "w", encoding="utf-8") as out:
    out.write(extra)
PY
echo "pip settings for the build:"; sed 's/^/  /' "$work/pip.conf"
extra_index=$(cat "$work/extra-index")
set -- --build-arg BASE_IMAGE="$BASE_IMAGE"
if [ -n "$extra_index" ]; then
    set -- "$@" --build-arg PIP_EXTRA_INDEX_URL="$extra_index"
fi
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it); --network host reaches the
# package registries as this machine does.
# shellcheck disable=SC2086
$PODMAN build --format docker --network host $ULIMITS \
    -v "$work/pip.conf:/etc/pip.conf:ro" $(cat "$work/mounts") \
    "$@" -t "$IMAGE" -f Containerfile .
echo "built $IMAGE from $BASE_IMAGE"
