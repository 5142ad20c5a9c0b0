#!/usr/bin/env bash
# Container smoke test: builds the real image from docker/Dockerfile with Debian's podman, then
# inside it runs `ximup version` and an upload of examples/images/ against ximup-mock (started from
# the same image, on loopback, with a fresh token and a self-signed certificate).
#
#   scripts/container-smoke.sh                 build, check, remove the image (base images stay cached)
#   scripts/container-smoke.sh --clean         also remove the cached base images at the end
#   scripts/container-smoke.sh --keep-image    keep ximup:smoke (and the build cache) for a try-out
#   scripts/container-smoke.sh --context DIR   build context other than the repo top (a snapshot)
#
# Needs root (podman as root; debootstrap). Installs podman, runc and debootstrap itself
# (scripts/setup.sh --container-tools). No image registry is needed: when `debian:bookworm` is not
# in podman's storage, the two base images are made with `debootstrap --variant=minbase bookworm`
# from the Debian mirror of this machine's apt sources and imported as debian:bookworm and
# debian:bookworm-slim; builds use --pull=never. Environment: JOBS (compile jobs, default 2),
# NICE (default 10). Takes 10-30 minutes the first time (debootstrap plus a C++ build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

clean=0
keep_image=0
context=$repo
while (($#)); do
  case "$1" in
    --clean) clean=1 ;;
    --keep-image) keep_image=1 ;;
    --context) context=$(cd "$2" && pwd); shift ;;
    *) echo "usage: scripts/container-smoke.sh [--clean] [--keep-image] [--context DIR]" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n== container-smoke: %s ==\n' "$*"; }
die() { printf '\ncontainer-smoke: FAILED: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (podman build and debootstrap need it)"
[[ -f "$context/docker/Dockerfile" ]] || die "no docker/Dockerfile in $context"

step "installing podman, runc, debootstrap (scripts/setup.sh --container-tools)"
scripts/setup.sh --container-tools

# runc: crun fails on hosts with hybrid (v1 + unified) cgroups. Host network: no CNI/netavark
# setup needed, and the mock listens on loopback only.
podman=(podman --runtime runc)
jobs=${JOBS:-2}
nice_level=${NICE:-10}
# Explicit ulimits, no higher than this machine's hard limits: podman's defaults can exceed them
# and then runc refuses to start the container ("error setting rlimit type 7: operation not
# permitted"). Even the hard limit itself can be refused (here nproc above 32768 is, while
# `ulimit -Hu` says 96364), so probe_ulimits (below, once a base image exists) tries the hard
# limit, then smaller values, with a trivial container.
hard_limit() {  # ulimit flag, cap
  local v
  v=$(ulimit -H "$1")
  if [[ "$v" == unlimited || "$v" -gt "$2" ]]; then v=$2; fi
  echo "$v"
}
nofile=$(hard_limit -n 1048576)
nproc_limit=$(hard_limit -u 1048576)
ulimits=()
run_opts=()
probe_ulimits() {
  local n
  try() { "${podman[@]}" run --rm --network=host --ulimit "nofile=$1:$1" --ulimit "nproc=$2:$2" \
    debian:bookworm-slim true >/dev/null 2>&1; }
  for n in "$nofile" 65536 32768 16384 8192 4096 1024; do
    ((n <= nofile)) || continue
    if try "$n" 1024; then nofile=$n; break; fi
    [[ $n == 1024 ]] && die "podman cannot start a container even with nofile=1024 nproc=1024: $(
      "${podman[@]}" run --rm --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        debian:bookworm-slim true 2>&1 | tail -n 3)"
  done
  for n in "$nproc_limit" 65536 32768 16384 8192 4096 1024; do
    ((n <= nproc_limit)) || continue
    if try "$nofile" "$n"; then nproc_limit=$n; break; fi
  done
  ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc_limit:$nproc_limit")
  run_opts=(--network=host "${ulimits[@]}")
  echo "ulimits for builds and containers: nofile=$nofile nproc=$nproc_limit (hard: $(ulimit -Hn), $(ulimit -Hu))"
}

image=localhost/ximup:smoke
mock_name="ximup-smoke-mock-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/ximup-ctr-smoke.XXXXXX")
rootfs=""
cleanup() {
  local status=$?
  "${podman[@]}" rm -f -t 2 "$mock_name" >/dev/null 2>&1 || true
  [[ -n "$rootfs" ]] && rm -rf "$rootfs"
  rm -rf "$work"
  if ((!keep_image)); then
    echo "== container-smoke: removing $image and the build-stage images =="
    "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
    # Intermediate images of both stages carry the label ximup.stage (see docker/Dockerfile).
    "${podman[@]}" image prune -f --filter label=ximup.stage >/dev/null 2>&1 || true
  fi
  if ((clean)); then
    echo "== container-smoke: --clean: removing the base images =="
    "${podman[@]}" rmi -f localhost/debian:bookworm localhost/debian:bookworm-slim \
      docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim >/dev/null 2>&1 || true
  fi
  if ((status == 0)); then echo "container-smoke: PASSED"; fi
  exit "$status"
}
trap cleanup EXIT

# --- base images -----------------------------------------------------------------------------
# The mirror of this machine's apt sources for a suite (bookworm, bookworm-security), from
# deb822 .sources files or one-line .list files.
apt_mirror() {  # suite
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$suite" '
      function flush() { if (uri != "" && deb && index(" " suites " ", " " suite " ")) { print uri; found = 1; exit } }
      /^[[:space:]]*$/ { flush(); uri = ""; suites = ""; deb = 0; next }
      /^Types:/ { deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { $1 = ""; suites = $0 }
      END { if (!found) flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) == suite) { print $i; exit } }' "$f"
  done
}

make_base_images() {
  local mirror security
  mirror=$(apt_mirror bookworm | head -n1)
  security=$(apt_mirror bookworm-security | head -n1)
  [[ -n "$mirror" ]] || die "no Debian mirror for bookworm in /etc/apt/sources.list(.d)"
  [[ -n "$security" ]] || security=http://deb.debian.org/debian-security
  step "debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
  rootfs=$(mktemp -d /var/tmp/ximup-rootfs.XXXXXX)
  nice -n "$nice_level" debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log"; die "debootstrap failed"; }
  # The same apt sources as the official images (deb822), pointing at this machine's mirror.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # As the official images: no .deb cache kept, no recommends.
  printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/00-no-recommends"
  rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/var/log/* \
    "${rootfs:?}"/dev/* "${rootfs:?}"/proc/* "${rootfs:?}"/sys/* "${rootfs:?}"/run/* "${rootfs:?}"/tmp/*
  step "importing debian:bookworm"
  tar --numeric-owner -C "$rootfs" -c . | "${podman[@]}" import --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase bookworm $mirror" - localhost/debian:bookworm >/dev/null
  # bookworm-slim: the same rootfs without docs, man pages and translations, and dpkg told not to
  # install them again (as the official slim image).
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/*
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  step "importing debian:bookworm-slim"
  tar --numeric-owner -C "$rootfs" -c . | "${podman[@]}" import --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase bookworm $mirror, slimmed" - localhost/debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
  rootfs=""
}

# `FROM debian:bookworm` is a short name; the tags under both localhost/ and docker.io/library/
# make it resolve locally whatever the short-name settings of registries.conf.
tag_base_images() {
  local t
  for t in bookworm bookworm-slim; do
    "${podman[@]}" image exists "docker.io/library/debian:$t" ||
      "${podman[@]}" tag "localhost/debian:$t" "docker.io/library/debian:$t"
  done
}

step "base images"
if "${podman[@]}" image exists debian:bookworm && "${podman[@]}" image exists debian:bookworm-slim; then
  echo "debian:bookworm and debian:bookworm-slim are in podman's storage (cached)"
else
  make_base_images
  tag_base_images
fi
"${podman[@]}" images --filter reference='*debian*' --format '{{.Repository}}:{{.Tag}}  {{.Size}}'
probe_ulimits

# --- build -----------------------------------------------------------------------------------
step "building $image from docker/Dockerfile (context $context, JOBS=$jobs, nice $nice_level)"
nice -n "$nice_level" "${podman[@]}" build --pull=never --network=host "${ulimits[@]}" \
  --build-arg JOBS="$jobs" -f "$context/docker/Dockerfile" -t "$image" "$context" ||
  die "podman build failed"

size_bytes=$("${podman[@]}" image inspect "$image" --format '{{.Size}}')
step "image size"
echo "$image: $size_bytes bytes ($((size_bytes / 1000000)) MB, $((size_bytes / 1048576)) MiB)"

# --- checks ----------------------------------------------------------------------------------
step "ximup version"
version=$("${podman[@]}" run --rm "${run_opts[@]}" "$image" version) || die "ximup version failed"
echo "$version"
# The resize module (libvips) is loaded from /usr/local/lib/ximup/ on first use.
grep -q '^resize: libvips' <<<"$version" || die "the resize module is not found in the image"

step "shared libraries and user"
libs=$("${podman[@]}" run --rm "${run_opts[@]}" --entrypoint ldd "$image" /usr/local/bin/ximup /usr/local/bin/ximup-mock \
  /usr/local/lib/ximup/ximup-resize.so)
echo "$libs"
if grep -q 'not found' <<<"$libs"; then die "a shared library is missing in the image"; fi
uid=$("${podman[@]}" run --rm "${run_opts[@]}" --entrypoint id "$image" -u)
echo "runs as uid $uid"
[[ "$uid" != 0 ]] || die "the image runs as root"
log_format=$("${podman[@]}" run --rm "${run_opts[@]}" --entrypoint printenv "$image" XIMUP_LOG_FORMAT || true)
echo "XIMUP_LOG_FORMAT=$log_format"
[[ "$log_format" == json ]] || die "the image does not set XIMUP_LOG_FORMAT=json"

step "starting ximup-mock (same image) on 127.0.0.1 with a fresh token"
# The image's user (uid 10001) writes the certificate, port file, ledger, results and state here.
chown 10001:10001 "$work"
chmod 0700 "$work"
head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
chown 10001:10001 "$work/token"
chmod 0400 "$work/token"
"${podman[@]}" run -d --name "$mock_name" "${run_opts[@]}" -v "$work:/work" \
  --entrypoint ximup-mock "$image" --listen 127.0.0.1:0 --self-signed --cert-out /work/cert.pem \
  --port-file /work/port --token-file /work/token --ledger /work/ledger.jsonl >/dev/null ||
  die "could not start the ximup-mock container"
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
if [[ ! -s "$work/port" ]]; then
  "${podman[@]}" logs "$mock_name" || true
  die "ximup-mock did not write its port file"
fi
port=$(cat "$work/port")
echo "ximup-mock listening on https://127.0.0.1:$port"

step "ximup upload examples/images (mounted read-only at /data)"
help=$("${podman[@]}" run --rm "${run_opts[@]}" "$image" upload --help)
json_logs=0
if grep -q -- '--log-format' <<<"$help"; then
  json_logs=1 # the image's XIMUP_LOG_FORMAT=json applies: no flag given, the default is tested
else
  echo "note: this ximup has no --log-format yet: the JSON log check is skipped"
fi
status=0
"${podman[@]}" run --rm "${run_opts[@]}" -v "$repo/examples/images:/data:ro" -v "$work:/work" \
  "$image" upload /data --endpoint tagging --api-base "https://127.0.0.1:$port/" \
  --cacert /work/cert.pem --token-file /work/token --results /work/results.jsonl \
  --state /work/state.sqlite 2>"$work/upload.log" || status=$?
cat "$work/upload.log"
echo "ximup upload exited with $status"
((status == 0)) || die "ximup upload in the container exited with $status"

expected=$(find "$repo/examples/images" -type f \
  \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.jpe' -o -iname '*.png' -o -iname '*.gif' \
  -o -iname '*.webp' -o -iname '*.bmp' -o -iname '*.tif' -o -iname '*.tiff' \) | wc -l)
lines=$(wc -l <"$work/results.jsonl")
ok=$(grep -c '"outcome":"ok"' "$work/results.jsonl" || true)
ledger=$(wc -l <"$work/ledger.jsonl")
echo "images: $expected, result lines: $lines, ok: $ok, records in the mock's ledger: $ledger"
((expected > 0)) || die "no images found in examples/images"
((lines == expected)) || die "expected $expected result lines, got $lines"
((ok == expected)) || die "expected $expected ok results, got $ok"
((ledger == expected)) || die "expected $expected records in the mock's ledger, got $ledger"
if ((json_logs)); then
  # Log records are JSON lines; the human summary block that follows them is plain text.
  python3 - "$work/upload.log" <<'EOF' || die "the upload's log records are not JSON lines"
import json, sys
records = other = 0
for line in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    if line.startswith("{"):
        obj = json.loads(line)
        assert {"time", "level", "message"} <= obj.keys(), line
        records += 1
    elif line.strip():
        other += 1
assert records > 0, "no JSON log records on stderr"
print(f"{records} JSON log records on stderr; {other} other lines (the summary)")
EOF
fi

step "second run on the same state: nothing new to send"
status=0
"${podman[@]}" run --rm "${run_opts[@]}" -v "$repo/examples/images:/data:ro" -v "$work:/work" \
  "$image" upload /data --endpoint tagging --api-base "https://127.0.0.1:$port/" \
  --cacert /work/cert.pem --token-file /work/token --results /work/results.jsonl \
  --state /work/state.sqlite 2>"$work/upload2.log" || status=$?
((status == 0)) || { cat "$work/upload2.log"; die "the second upload exited with $status"; }
ledger2=$(wc -l <"$work/ledger.jsonl")
echo "records in the mock's ledger after the second run: $ledger2"
((ledger2 == ledger)) || die "the second run sent $((ledger2 - ledger)) records again"

"${podman[@]}" stop -t 5 "$mock_name" >/dev/null || true
echo
echo "summary: image $image $((size_bytes / 1000000)) MB; ximup version ok; upload of $expected images ok"
