#!/bin/sh
# A Debian bookworm base image made from Debian's own packages, for machines without a registry of base images:
# mmdebstrap writes a minimal root filesystem with Python 3.11 and its venv module, `podman import` turns it into
# localhost/acg2vec-base:bookworm. With a registry at hand, `python:3.11-slim` is the same base (the default).
set -eu
IMAGE=${ACG2VEC_BASE_IMAGE:-localhost/acg2vec-base:bookworm}
PODMAN=${PODMAN:-podman --runtime runc --cgroup-manager cgroupfs}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if $PODMAN image exists "$IMAGE"; then
    echo "base image $IMAGE exists (podman rmi it to make it again)"
    exit 0
fi
for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install podman runc mmdebstrap" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# passwd: useradd for the image's non-root user; ca-certificates: the CA bundle pip and the crawlers use.
mmdebstrap --variant=minbase --include=python3.11,python3.11-venv,ca-certificates,passwd \
    bookworm "$work/rootfs.tar" "$MIRROR"
$PODMAN import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' "$work/rootfs.tar" "$IMAGE"
echo "made base image $IMAGE"
