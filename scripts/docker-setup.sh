#!/usr/bin/env bash
# Installs and starts Docker for the docker executor's tests, and builds the
# test images without any registry:
#   baton-test/busybox  a tiny image from Debian's busybox-static
#   baton-test/debian   Debian bookworm (minbase) with bash, from debootstrap
#   redis:7, postgres:15 sem-service's images, from Debian's packages
# Idempotent: a running daemon and images already built are reused.
# Also installs docker-registry (a local registry for pull tests) and
# htpasswd. Needs root.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  # A pid file left by a daemon that died makes dockerd refuse to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  if [ -f /run/containerd/containerd.pid ] && ! kill -0 "$(cat /run/containerd/containerd.pid)" 2>/dev/null; then
    rm -f /run/containerd/containerd.pid
  fi
  nohup dockerd >/var/log/baton-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not start:" >&2
    tail -20 /var/log/baton-dockerd.log >&2
    exit 1
  fi
fi

if ! docker image inspect baton-test/busybox >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin"
  cp /bin/busybox "$tmp/bin/busybox"
  for a in sh ls cat echo sleep env true false nc wget id hostname printenv; do
    ln -s busybox "$tmp/bin/$a"
  done
  tar -C "$tmp" -c . | docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - baton-test/busybox >/dev/null
  rm -rf "$tmp"
fi

if ! docker image inspect baton-test/debian >/dev/null 2>&1; then
  root=/var/cache/baton-test-debian
  if [ ! -x "$root/bin/bash" ]; then
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" >/dev/null
  fi
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - baton-test/debian >/dev/null
fi
# Stand-ins for the official images sem-service starts, built from Debian's
# packages (real servers) under the official names, as there is no registry.
here=$(cd "$(dirname "$0")" && pwd)
for image in redis:7 postgres:15; do
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    docker build -q -t "$image" "$here/service-images/${image%%:*}" >/dev/null
  fi
done
echo "docker: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'); test images ready"
