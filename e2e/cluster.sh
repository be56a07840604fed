#!/usr/bin/env bash
# The project's local Kubernetes test bed: a real single-node Kubernetes v1.20.2 on this machine
# (etcd + kube-apiserver + kube-controller-manager + kube-scheduler + a node made of containerd/runc + kubelet
# running inside a private mount+pid namespace). No registry, Docker engine or kind image is needed: the
# Kubernetes binaries are built from Debian's source package by e2e/build-k8s.sh and cached, and the two
# images the bed needs (pause, busybox) are assembled locally as docker-archive tarballs.
#
# Run `e2e/cluster.sh help` for the commands and the configuration variables. Everything runs as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------------------------------------------------
# Configuration. Every value can be overridden from the environment; a second bed on the same machine needs
# its own RUNWISP_BED_DIR, RUNWISP_BED_NAME, RUNWISP_POD_SUBNET and ports (RUNWISP_PORT_OFFSET=100 moves them all).
# ---------------------------------------------------------------------------------------------------------
BED=${RUNWISP_BED_DIR:-/tmp/runwisp-bed}                   # state dir: pids, logs, certs, etcd data, node dirs
CACHE=${RUNWISP_CACHE:-$HOME/.cache/runwisp-operator}       # built binaries and images, shared between beds
BED_NAME=${RUNWISP_BED_NAME:-bed0}                          # names host-wide objects: bridge, cgroup root
PORT_OFFSET=${RUNWISP_PORT_OFFSET:-0}                       # added to every default port below
ETCD_PORT=${RUNWISP_ETCD_PORT:-$((3379 + PORT_OFFSET))}
ETCD_PEER_PORT=${RUNWISP_ETCD_PEER_PORT:-$((3380 + PORT_OFFSET))}
API_PORT=${RUNWISP_API_PORT:-$((7443 + PORT_OFFSET))}
KUBELET_PORT=${RUNWISP_KUBELET_PORT:-$((11250 + PORT_OFFSET))}
KUBELET_HEALTHZ_PORT=${RUNWISP_KUBELET_HEALTHZ_PORT:-$((11248 + PORT_OFFSET))}
KCM_PORT=${RUNWISP_KCM_PORT:-$((11257 + PORT_OFFSET))}
SCHEDULER_PORT=${RUNWISP_SCHEDULER_PORT:-$((11259 + PORT_OFFSET))}
POD_SUBNET=${RUNWISP_POD_SUBNET:-10.244.0.0/16}             # CNI bridge subnet; must differ between beds
SERVICE_CIDR=${RUNWISP_SERVICE_CIDR:-10.0.0.0/24}           # virtual only (no kube-proxy), may be shared
BRIDGE=${RUNWISP_BRIDGE:-rwbr-$BED_NAME}                    # CNI bridge created on the host
CGROUP_ROOT=runwisp-$BED_NAME                               # kubelet cgroupRoot: /sys/fs/cgroup/<ctrl>/runwisp-<name>
UP_TIMEOUT=${RUNWISP_UP_TIMEOUT:-120}                       # seconds to wait for each readiness step
EXTRA_IMAGES=${RUNWISP_EXTRA_IMAGES:-}                      # docker-archive tarballs imported at `up`

K8S_VERSION=1.20.2
PAUSE_IMAGE=localhost/pause:3.2
BUSYBOX_IMAGE=localhost/busybox:1.35
APT_PACKAGES="containerd runc containernetworking-plugins busybox-static iproute2 etcd-server curl openssl gcc libc6-dev"
# kubelet (protectKernelDefaults=false) rewrites the first six at start; the CNI bridge plugin turns on ip_forward.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward"
COMPONENTS="etcd apiserver kcm scheduler node"
# node first (kubelet would otherwise notice the apiserver going away), apiserver before etcd (it hangs
# retrying etcd otherwise)
STOP_ORDER="node scheduler kcm apiserver etcd"

# Layout of the state dir. pki/ (CA, keys, tokens) survives `down` so a kubeconfig stays valid across cycles;
# logs/ survives for post-mortems; everything else is recreated by every `up` and removed by `down`.
PKI=$BED/pki
LOGS=$BED/logs
PIDS=$BED/pids
RUN=$BED/run                      # containerd socket: on the host fs, so `ctr` works from outside the node
NODE_DIR=$BED/node
KUBECONFIG_PATH=$BED/kubeconfig
# Sysctls are machine-wide, beds are not: the first bed to come up saves the original values here, every bed
# registers in beds/, and the last one to go away restores them.
HOST_STATE=${RUNWISP_HOST_STATE:-/run/runwisp}
SYSCTL_SAVED=$HOST_STATE/sysctl.saved
IMAGES=$CACHE/images

now() { date +%s.%N; }
T0=$(now)
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.2f", a-b}'; }
PHASE_NAME="" PHASE_T=""
# phase NAME: ends the previous phase (printing its duration) and starts a new one
phase() {
  [ -n "$PHASE_NAME" ] && log "$(printf '%-42s %6ss   (total %6ss)' "$PHASE_NAME" "$(elapsed "$PHASE_T")" "$(elapsed "$T0")")"
  PHASE_NAME=${1:-} PHASE_T=$(now)
}

usage() {
  cat <<EOF
usage: e2e/cluster.sh <command>

Commands:
  up                 install missing apt packages, build/reuse the Kubernetes binaries, start the bed and wait
                     until it is usable (node Ready, default ServiceAccount token). No-op if already up; cleans up
                     after a bed whose processes were killed without 'down'.
  down               stop everything (by PID), restore sysctls, remove cgroups, bridge and runtime state.
                     Idempotent. Keeps \$RUNWISP_BED_DIR/logs and /pki.
  purge              down, then delete \$RUNWISP_BED_DIR entirely.
  status             show each component with its pid; exit 0 only if the bed is fully up.
  kubeconfig         print the admin kubeconfig path.
  env                print export lines: eval "\$(e2e/cluster.sh env)"
  load-image TAR...  import docker-archive tarballs into the running node's containerd (k8s.io namespace).
  kill COMPONENT     SIGKILL one component, like a crash (etcd, apiserver, kcm, scheduler, or node: kubelet,
                     containerd and every container at once); the rest of the bed keeps running.
  start COMPONENT    start a killed component again and wait until it serves (a node comes back like a
                     rebooted machine: its kubelet state is kept, no container survives).
  restart COMPONENT  kill, then start.
  deps [--check]     only install the missing apt packages (--check: list them, exit 1 if any).
  help               this text.

Configuration (environment, default):
  RUNWISP_BED_DIR               state dir ($BED; not under /run, /var/lib, /var/log)
  RUNWISP_CACHE                 binary/image cache ($CACHE)
  RUNWISP_BED_NAME              bed name, [a-z0-9]{1,10} ($BED_NAME); names the CNI bridge rwbr-<name> and the
                                cgroup root /runwisp-<name>, so two beds never touch each other's objects
  RUNWISP_POD_SUBNET            pod subnet of the CNI bridge ($POD_SUBNET); give a second bed another one
  RUNWISP_SERVICE_CIDR          service cluster IP range ($SERVICE_CIDR)
  RUNWISP_BRIDGE                CNI bridge name ($BRIDGE)
  RUNWISP_PORT_OFFSET           added to every default port below (0); use a multiple of 100 for a second bed
  RUNWISP_ETCD_PORT             etcd client port ($ETCD_PORT)
  RUNWISP_ETCD_PEER_PORT        etcd peer port ($ETCD_PEER_PORT)
  RUNWISP_API_PORT              kube-apiserver https port on 127.0.0.1 ($API_PORT)
  RUNWISP_KUBELET_PORT          kubelet API port ($KUBELET_PORT)
  RUNWISP_KUBELET_HEALTHZ_PORT  kubelet healthz port on 127.0.0.1 ($KUBELET_HEALTHZ_PORT)
  RUNWISP_KCM_PORT              kube-controller-manager secure port ($KCM_PORT)
  RUNWISP_SCHEDULER_PORT        kube-scheduler secure port ($SCHEDULER_PORT)
  RUNWISP_EXTRA_IMAGES          space-separated docker-archive tarballs to import at 'up'
  RUNWISP_UP_TIMEOUT            seconds to wait for each readiness step ($UP_TIMEOUT)
  RUNWISP_KEEP_FAILED=1         leave a failed 'up' running for inspection instead of tearing it down
  RUNWISP_HOST_STATE            machine-wide state shared by all beds: the sysctls saved by the first bed
                                up, restored by the last one down ($HOST_STATE)

Images available to pods (use imagePullPolicy: Never or IfNotPresent): $PAUSE_IMAGE, $BUSYBOX_IMAGE.
The apiserver listens on https://127.0.0.1:\$RUNWISP_API_PORT only; there is no kube-proxy and no DNS, so a
pod that talks to the apiserver needs hostNetwork: true and KUBERNETES_SERVICE_HOST=127.0.0.1,
KUBERNETES_SERVICE_PORT=\$RUNWISP_API_PORT.
EOF
}

validate_config() {
  [[ $BED_NAME =~ ^[a-z0-9]{1,10}$ ]] || die "RUNWISP_BED_NAME must match [a-z0-9]{1,10} (it names the bridge): '$BED_NAME'"
  [ ${#BRIDGE} -le 15 ] || die "bridge name '$BRIDGE' is longer than 15 characters"
  [[ $BED = /* ]] || die "RUNWISP_BED_DIR must be an absolute path: '$BED'"
  # inside the node namespace /run is a tmpfs and /var/lib, /var/log are bind mounts: the bed dir must not hide there
  case "$BED/" in /run/* | /var/run/* | /var/lib/* | /var/log/*) die "RUNWISP_BED_DIR must not be under /run, /var/lib or /var/log" ;; esac
  # unix socket paths are limited to 108 bytes; containerd adds ".ttrpc"
  [ ${#RUN} -le 80 ] || die "RUNWISP_BED_DIR is too long for a unix socket path"
  local p
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" "$KCM_PORT" "$SCHEDULER_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then die "invalid port '$p'"; fi
  done
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

k8s_bin() { "$HERE/build-k8s.sh" path; }
node_name() { hostname | tr '[:upper:]' '[:lower:]'; }
# kubelet refuses a loopback node IP; the apiserver reaches the kubelet (logs, exec) at this address
node_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
  # no default route: the first global IPv4 address
  [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub("/.*", "", $4); print $4; exit}')
  [ -n "$ip" ] || die "no non-loopback IPv4 address for the node"
  echo "$ip"
}

# ---------------------------------------------------------------------------------------------------------
# Process bookkeeping. A pid file holds "PID STARTTIME": the start time (field 22 of /proc/PID/stat) guards
# against pid reuse after the bed was killed, so we never signal an unrelated process.
# ---------------------------------------------------------------------------------------------------------
proc_starttime() { # PID -> start time, fails if the process is gone or a zombie
  local s rest f
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${s##*) }                     # comm may contain spaces; fields after ") " start at field 3
  read -r -a f <<<"$rest"
  [ "${f[0]}" != Z ] || return 1
  echo "${f[19]}"
}
record_pid() { echo "$2 $(proc_starttime "$2")" >"$PIDS/$1.pid"; }
pid_file_alive() { # PIDFILE -> pid if that process is alive
  local pid st cur
  [ -f "$1" ] && read -r pid st <"$1" || return 1
  [ -n "$pid" ] && [ -n "$st" ] || return 1
  cur=$(proc_starttime "$pid") || return 1
  [ "$cur" = "$st" ] && echo "$pid"
}
pid_of() { pid_file_alive "$PIDS/$1.pid"; } # NAME -> pid if that component is alive
stop_component() { # NAME: SIGTERM (SIGKILL for the node), wait, SIGKILL
  local name=$1 pid i
  if pid=$(pid_of "$name"); then
    if [ "$name" = node ]; then
      # unshare ignores SIGTERM while it waits for its child; SIGKILL makes the kernel kill the namespace's
      # PID 1 (--kill-child), which kills every process in the node: kubelet, containerd, shims, containers
      kill -KILL "$pid" 2>/dev/null || true
    else
      kill -TERM "$pid" 2>/dev/null || true
    fi
    for i in $(seq 1 50); do pid_of "$name" >/dev/null || break; sleep 0.2; done
    if pid_of "$name" >/dev/null; then log "$name ($pid) ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    log "stopped $name ($pid)"
  fi
  rm -f "$PIDS/$name.pid"
}
# children of PID (host pids), used to show what runs inside the node namespace
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null || echo '?'; }

# start NAME LOGFILE CMD...: detached (own session, no controlling terminal) so that it outlives this script
start_component() {
  local name=$1 logfile=$2; shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  record_pid "$name" $!
  disown $! # no "Killed" job notices from this shell when `up` fails and tears down
}

# ---------------------------------------------------------------------------------------------------------
# Host-side leftovers: what a bed leaves behind when its processes die, whether by `down` or by kill -9.
# ---------------------------------------------------------------------------------------------------------
cgroup_mounts() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts; }

remove_cgroups() {
  local m d left i pid
  for i in $(seq 1 50); do
    left=0
    for m in $(cgroup_mounts); do
      d=$m/$CGROUP_ROOT
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$d" ] && left=1
    done
    [ $left = 0 ] && return 0
    # processes of dead pods take a moment to exit; after 5 s kill what is still in *our* cgroups, by pid
    if [ "$i" = 25 ]; then
      for m in $(cgroup_mounts); do
        [ -d "$m/$CGROUP_ROOT" ] || continue
        for pid in $(find "$m/$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
          log "killing leftover pod process $pid ($(comm_of "$pid"))"; kill -KILL "$pid" 2>/dev/null || true
        done
      done
    fi
    sleep 0.2
  done
  log "WARNING: could not remove every cgroup under /$CGROUP_ROOT"
}

# kubelet's cgroupRoot must exist in every hierarchy before it starts; cpuset children start empty, so copy
create_cgroup_root() {
  local m d f
  for m in $(cgroup_mounts); do
    d=$m/$CGROUP_ROOT
    mkdir -p "$d"
    for f in cpuset.cpus cpuset.mems; do
      [ -f "$d/$f" ] && [ -z "$(cat "$d/$f")" ] && cat "$m/$f" >"$d/$f"
    done
  done
  return 0
}

unmount_leftovers() { # anything still mounted below the bed dir (only possible if a mount escaped the namespace)
  local mp
  awk -v b="$BED" '$5 == b || index($5, b "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r mp; do
    log "unmounting leftover $mp"; umount -l "$mp" 2>/dev/null || true
  done
}

host_state_lock() { mkdir -p "$HOST_STATE/beds" && exec 9>"$HOST_STATE/lock" && flock 9; }
host_state_unlock() { flock -u 9 && exec 9>&-; }
# a registered bed is live if one of its processes is; a fresh registration (an `up` that has not started
# anything yet) counts as live for a minute
bed_live() { # MARKER
  local dir f
  dir=$(cat "$1" 2>/dev/null) || return 1
  for f in "$dir"/pids/*.pid; do pid_file_alive "$f" >/dev/null && return 0; done
  [ -n "$(find "$1" -mmin -1 2>/dev/null)" ]
}
# called before this bed's kubelet starts (which rewrites them) and after cleanup_host
save_sysctls() {
  host_state_lock
  # shellcheck disable=SC2086
  [ -f "$SYSCTL_SAVED" ] || sysctl $SYSCTLS 2>/dev/null | tr -d ' ' >"$SYSCTL_SAVED"
  echo "$BED" >"$HOST_STATE/beds/$BED_NAME"
  host_state_unlock
}
restore_sysctls() { # unregisters this bed; restores the saved values if no other live bed is left
  local m others=""
  host_state_lock
  rm -f "$HOST_STATE/beds/$BED_NAME"
  # a per-bed file written by an earlier version of this script
  if [ -f "$BED/sysctl.saved" ]; then
    if [ -f "$SYSCTL_SAVED" ]; then rm -f "$BED/sysctl.saved"; else mv "$BED/sysctl.saved" "$SYSCTL_SAVED"; fi
  fi
  for m in "$HOST_STATE"/beds/*; do
    [ -f "$m" ] || continue
    if bed_live "$m"; then others="$others ${m##*/}"; else rm -f "$m"; fi
  done
  if [ -n "$others" ]; then
    log "sysctls stay as they are: still in use by bed(s)$others"
  elif [ -f "$SYSCTL_SAVED" ]; then
    # shellcheck disable=SC2046
    sysctl -q -w $(cat "$SYSCTL_SAVED") >/dev/null || log "WARNING: could not restore every sysctl from $SYSCTL_SAVED"
    rm -f "$SYSCTL_SAVED"
  fi
  host_state_unlock
}

cleanup_host() {
  remove_cgroups
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" && log "removed bridge $BRIDGE"; fi
  unmount_leftovers
  restore_sysctls
}

# ---------------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------------
admin_token() { awk -F, '$2 == "admin" {print $1}' "$PKI/tokens.csv" 2>/dev/null; }
api_ready() {
  curl -sf --max-time 3 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(admin_token)" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}
kubelet_healthy() { curl -sf --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null 2>&1; }
node_ready() {
  [ "$("$(k8s_bin)/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s get node "$(node_name)" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
all_alive() { local c; for c in $COMPONENTS; do pid_of "$c" >/dev/null || return 1; done; }
any_alive() { local c; for c in $COMPONENTS; do pid_of "$c" >/dev/null && return 0; done; return 1; }
bed_up() { all_alive && api_ready && kubelet_healthy; }

cmd_status() {
  local c pid ok=0 init k
  echo "bed $BED_NAME in $BED (api https://127.0.0.1:$API_PORT)"
  for c in $COMPONENTS; do
    if pid=$(pid_of "$c"); then
      printf '  %-10s pid %-8s alive\n' "$c" "$pid"
      if [ "$c" = node ]; then   # show containerd and kubelet, children of the namespace's PID 1
        for init in $(children_of "$pid"); do
          for k in $(children_of "$init"); do
            [ "$(comm_of "$k")" = sleep ] || printf '    %-16s pid %s\n' "$(comm_of "$k")" "$k"
          done
        done
      fi
    elif [ -f "$PIDS/$c.pid" ]; then
      printf '  %-10s pid %-8s DEAD (stale pid file)\n' "$c" "$(cut -d' ' -f1 "$PIDS/$c.pid")"; ok=1
    else
      printf '  %-10s not running\n' "$c"; ok=1
    fi
  done
  if api_ready; then echo "  apiserver  /readyz ok"; else echo "  apiserver  /readyz FAILING"; ok=1; fi
  if kubelet_healthy; then echo "  kubelet    /healthz ok"; else echo "  kubelet    /healthz FAILING"; ok=1; fi
  if [ $ok = 0 ] && node_ready; then echo "  node $(node_name) Ready"; elif [ $ok = 0 ]; then echo "  node $(node_name) NOT Ready"; ok=1; fi
  if [ $ok = 0 ]; then echo "bed is UP; KUBECONFIG=$KUBECONFIG_PATH"; else echo "bed is NOT fully up"; fi
  return $ok
}

# ---------------------------------------------------------------------------------------------------------
# up: packages, binaries, images, credentials, configs, processes
# ---------------------------------------------------------------------------------------------------------
missing_packages() {
  local p
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}
apt_ensure() {
  local missing=()
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# mkimage ROOTFS REF OUT CONFIG_JSON: a one-layer docker-archive (what `docker save` writes), reproducible
mkimage() {
  local rootfs=$1 ref=$2 out=$3 cfg=$4 work diff cid
  work=$(mktemp -d)
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
  diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  mkdir "$work/$diff" && mv "$work/layer.tar" "$work/$diff/layer.tar"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cfg" "$diff" >"$work/config.json"
  cid=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  mv "$work/config.json" "$work/$cid.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cid" "$ref" "$diff" >"$work/manifest.json"
  tar -C "$work" -cf "$out.tmp" manifest.json "$cid.json" "$diff" && mv "$out.tmp" "$out"
  rm -rf "$work"
}

# pause (from the Kubernetes tree's pause.c) and busybox (the host's static busybox), cached by their sources
build_images() {
  local bin stamp want work a
  bin=$(k8s_bin)
  mkdir -p "$IMAGES"
  want=$(cat "$bin/pause.c" /bin/busybox | sha256sum | cut -d' ' -f1)
  stamp=$IMAGES/sources.sha256
  if [ -f "$IMAGES/pause.tar" ] && [ -f "$IMAGES/busybox.tar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "building images $PAUSE_IMAGE and $BUSYBOX_IMAGE"
  work=$(mktemp -d)
  mkdir -p "$work/pause" "$work/bb"/{bin,tmp,etc,root,proc,sys,dev}
  gcc -Os -static -o "$work/pause/pause" "$bin/pause.c"
  strip "$work/pause/pause"
  cp /bin/busybox "$work/bb/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/bb/bin/$a"; done
  chmod 1777 "$work/bb/tmp"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$work/bb/etc/passwd"
  echo 'root:x:0:' >"$work/bb/etc/group"
  mkimage "$work/pause" "$PAUSE_IMAGE" "$IMAGES/pause.tar" '{"Entrypoint":["/pause"]}'
  mkimage "$work/bb" "$BUSYBOX_IMAGE" "$IMAGES/busybox.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
  echo "$want" >"$stamp"
  rm -rf "$work"
}

# Our own CA, so that clients verify the apiserver properly (rustls needs a CA-signed cert with an IP SAN;
# the apiserver's self-signed fallback does not cover "localhost"). Kept across cycles in $PKI.
ensure_pki() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ] || [ ! -f "$PKI/ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
      -subj "/CN=runwisp-bed-$BED_NAME-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    rm -f "$PKI/apiserver.crt" "$PKI/kubelet-client.crt"
  fi
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  if [ ! -f "$PKI/tokens.csv" ] || ! grep -q ",system:node:$(node_name)," "$PKI/tokens.csv"; then
    # random tokens: the apiserver is reachable by every local user
    cat >"$PKI/tokens.csv" <<EOF
$(openssl rand -hex 16),admin,admin,system:masters
$(openssl rand -hex 16),system:node:$(node_name),kubelet,system:nodes
$(openssl rand -hex 16),system:kube-controller-manager,kcm
$(openssl rand -hex 16),system:kube-scheduler,scheduler
EOF
  fi
  # the serving cert is reissued every up: the node IP is one of its SANs and may change
  local svc_ip ip
  ip=$(node_ip)
  svc_ip=$(awk -F'[./]' '{printf "%d.%d.%d.%d", $1, $2, $3, $4 + 1}' <<<"$SERVICE_CIDR")
  issue_cert apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:$ip,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
  # the apiserver authenticates to the kubelet with this (logs, exec); kubelet trusts the same CA
  [ -f "$PKI/kubelet-client.crt" ] || issue_cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
}
issue_cert() { # NAME SUBJECT EXTENSIONS
  local ext
  ext=$(mktemp)
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$3" >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -subj "$2" 2>/dev/null |
    openssl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 -extfile "$ext" \
      -out "$PKI/$1.crt" 2>/dev/null
  rm -f "$ext"
}

kubeconfig_for() { # USER -> kubeconfig text for that token user
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: runwisp-$BED_NAME
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $1
  user:
    token: $(awk -F, -v u="$1" '$3 == u {print $1}' "$PKI/tokens.csv")
contexts:
- name: runwisp-$BED_NAME
  context: {cluster: runwisp-$BED_NAME, user: $1}
current-context: runwisp-$BED_NAME
EOF
}

write_configs() {
  local ip name
  ip=$(node_ip) name=$(node_name)
  kubeconfig_for admin >"$KUBECONFIG_PATH.tmp" && chmod 600 "$KUBECONFIG_PATH.tmp" && mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
  kubeconfig_for kubelet >"$PKI/kubelet.kubeconfig"
  kubeconfig_for kcm >"$PKI/kcm.kubeconfig"
  kubeconfig_for scheduler >"$PKI/scheduler.kubeconfig"

  cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # pod network namespaces are mounted under the state dir (inside the node's mount namespace), so they die with it
  netns_mounts_under_state_dir = true
  # root has no CAP_SYS_RESOURCE on these machines: a negative oom_score_adj (sandboxes ask for -998) fails runc
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF
  cat >"$NODE_DIR/cni/net.d/10-runwisp.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "runwisp-$BED_NAME", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam", "ranges": [[{"subnet": "$POD_SUBNET"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}}
]}
EOF
  cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
# the apiserver authenticates with a client cert from our CA; anything else must present an apiserver token
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# a cgroup root of our own: two beds never see (and garbage-collect) each other's pod cgroups
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
makeIPTablesUtilChains: false
volumePluginDir: /var/lib/kubelet/volumeplugins
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
# never garbage-collect images: they cannot be pulled again here
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
syncFrequency: 3s
EOF
  # kubelet flags that cannot go into the config file in 1.20
  cat >"$NODE_DIR/kubelet.args" <<EOF
--config=$NODE_DIR/kubelet.yaml
--kubeconfig=$PKI/kubelet.kubeconfig
--container-runtime=remote
--container-runtime-endpoint=unix://$RUN/containerd.sock
--pod-infra-container-image=$PAUSE_IMAGE
--root-dir=/var/lib/kubelet
--hostname-override=$name
--node-ip=$ip
--v=2
EOF
}

# Runs as PID 1 of the node's private mount+pid namespace (see start_node). Exits, taking the whole node with
# it, as soon as containerd or kubelet exits: a half-dead node then shows up as dead in `status`.
node_main() {
  mount --make-rprivate /
  # kubelet hard-codes /var/lib/kubelet/device-plugins and /var/log/pods, libcni /var/lib/cni: private copies
  mount --bind "$NODE_DIR/varlib" /var/lib
  mount --bind "$NODE_DIR/varlog" /var/log
  # containerd 1.6 shims hard-code /run/containerd/s/<sock>; a private /run disappears with the namespace
  mount -t tmpfs -o mode=755 tmpfs /run
  containerd --config "$NODE_DIR/containerd.toml" >"$LOGS/containerd.log" 2>&1 &
  local containerd=$! i img kubelet
  for i in $(seq 1 100); do [ -S "$RUN/containerd.sock" ] && break; sleep 0.1; done
  [ -S "$RUN/containerd.sock" ] || { echo "containerd did not create its socket"; exit 1; }
  for img in "$IMAGES/pause.tar" "$IMAGES/busybox.tar"; do
    ctr -a "$RUN/containerd.sock" -n k8s.io images import "$img"
  done
  local args=()
  mapfile -t args <"$NODE_DIR/kubelet.args"
  "$(k8s_bin)/kubelet" "${args[@]}" >"$LOGS/kubelet.log" 2>&1 &
  kubelet=$!
  echo "containerd $containerd, kubelet $kubelet (pids in the node namespace)"
  # as PID 1 we also reap orphans (bash does that for any child on SIGCHLD)
  while kill -0 "$containerd" 2>/dev/null && kill -0 "$kubelet" 2>/dev/null; do sleep 1; done
  echo "containerd or kubelet exited: stopping the node"
  exit 1
}

start_node() {
  # --kill-child: when unshare dies (even by SIGKILL) the kernel SIGKILLs the namespace's PID 1 and with it
  # every process of the node
  start_component node "$LOGS/node.log" \
    unshare --mount --pid --fork --kill-child --mount-proc "$HERE/cluster.sh" _node
}

start_etcd() {
  start_component etcd "$LOGS/etcd.log" etcd --name "runwisp-$BED_NAME" --data-dir "$BED/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "runwisp-$BED_NAME=http://127.0.0.1:$ETCD_PEER_PORT"
}

start_apiserver() {
  local bin
  bin=$(k8s_bin)
  start_component apiserver "$LOGS/apiserver.log" "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --token-auth-file="$PKI/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP,Hostname \
    --kubelet-client-certificate="$PKI/kubelet-client.crt" --kubelet-client-key="$PKI/kubelet-client.key"
}

start_control_plane() {
  start_etcd
  start_apiserver
}

start_kcm() {
  local bin
  bin=$(k8s_bin)
  start_component kcm "$LOGS/kcm.log" "$bin/kube-controller-manager" \
    --kubeconfig="$PKI/kcm.kubeconfig" --authentication-kubeconfig="$PKI/kcm.kubeconfig" \
    --authorization-kubeconfig="$PKI/kcm.kubeconfig" --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --leader-elect=false --port=0 --secure-port="$KCM_PORT" --bind-address=127.0.0.1 --cert-dir="$BED/kcm-certs"
}

start_scheduler() {
  local bin
  bin=$(k8s_bin)
  start_component scheduler "$LOGS/scheduler.log" "$bin/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig="$PKI/scheduler.kubeconfig" --leader-elect=false --port=0 \
    --secure-port="$SCHEDULER_PORT" --bind-address=127.0.0.1 --cert-dir="$BED/scheduler-certs"
}

start_controllers() {
  start_kcm
  start_scheduler
}

# wait_until DESCRIPTION CMD...: polls CMD, failing fast if a component died meanwhile
wait_until() {
  local what=$1 deadline c
  shift
  deadline=$(($(date +%s) + UP_TIMEOUT))
  until "$@"; do
    for c in $COMPONENTS; do
      [ -f "$PIDS/$c.pid" ] && ! pid_of "$c" >/dev/null && fail "$c died while waiting for $what" "$c"
    done
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${UP_TIMEOUT}s waiting for $what"
    sleep 0.25
  done
}
default_sa_token_ready() {
  [ -n "$("$(k8s_bin)/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s -n default get serviceaccount default \
    -o 'jsonpath={.secrets[0].name}' 2>/dev/null)" ]
}

# fail MESSAGE [COMPONENT]: show the relevant logs; the EXIT trap of cmd_up tears the half-built bed down
fail() {
  local f
  log "ERROR: $1"
  for f in ${2:-etcd apiserver kcm scheduler node containerd kubelet}; do
    [ -s "$LOGS/$f.log" ] || continue
    log "---- last lines of $LOGS/$f.log"
    tail -n 15 "$LOGS/$f.log" >&2
  done
  exit 1
}

ports_free() {
  local p busy
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" "$KCM_PORT" "$SCHEDULER_PORT"; do
    busy=$(ss -Hltnp "sport = :$p" 2>/dev/null)
    [ -z "$busy" ] || die "port $p is in use (another bed? set RUNWISP_PORT_OFFSET): $busy"
  done
}

load_images() {
  local tar
  if ! pid_of node >/dev/null || [ ! -S "$RUN/containerd.sock" ]; then die "the bed's node is not running (e2e/cluster.sh up)"; fi
  for tar in "$@"; do
    [ -f "$tar" ] || die "no such image tarball: $tar"
    ctr -a "$RUN/containerd.sock" -n k8s.io images import "$tar" >&2
  done
}

on_up_exit() {
  local rc=$?
  [ "$rc" = 0 ] && return 0
  if [ "${RUNWISP_KEEP_FAILED:-0}" = 1 ]; then
    log "RUNWISP_KEEP_FAILED=1: leaving the failed bed running for inspection (e2e/cluster.sh down)"
  else
    log "up failed: tearing down what was started"
    cmd_down || true
  fi
  exit "$rc"
}

cmd_up() {
  need_root
  if any_alive; then
    if bed_up; then
      echo "the bed is already up; KUBECONFIG=$KUBECONFIG_PATH"
      return 0
    fi
    log "a previous bed is partly running: stopping it"
  fi
  phase "apt packages"
  apt_ensure
  phase "kubernetes binaries (build-k8s.sh)"
  "$HERE/build-k8s.sh" all
  phase "images"
  build_images

  phase "clean leftovers of a previous bed"
  local c
  for c in $STOP_ORDER; do stop_component "$c"; done
  cleanup_host
  rm -rf "$PIDS" "$RUN" "$NODE_DIR" "$BED/etcd" "$BED/kcm-certs" "$BED/scheduler-certs"
  ports_free

  phase "certificates and configs"
  mkdir -p "$PIDS" "$LOGS" "$RUN" "$NODE_DIR"/{varlib,varlog,cni/net.d,cni/ipam,containerd/root,containerd/state,containerd/opt}
  rm -f "$LOGS"/*.log
  ensure_pki
  write_configs
  save_sysctls
  create_cgroup_root

  # from here on, a failure (or Ctrl-C) tears down whatever was started
  trap on_up_exit EXIT
  trap 'exit 130' INT TERM
  phase "etcd + apiserver ready (node starting)"
  start_control_plane
  # the node boots (containerd, image import, kubelet) while the apiserver starts; kubelet retries until it answers
  start_node
  wait_until "apiserver /readyz" api_ready
  start_controllers
  phase "node Ready"
  wait_until "node $(node_name) Ready" node_ready
  phase "default ServiceAccount token"
  wait_until "the default ServiceAccount token secret" default_sa_token_ready
  if [ -n "$EXTRA_IMAGES" ]; then
    phase "extra images"
    # shellcheck disable=SC2086
    load_images $EXTRA_IMAGES
  fi
  phase "verify TLS with the CA"
  # what a rustls client does: verify the chain against the CA and 127.0.0.1 against an IP SAN
  curl -sf --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(admin_token)" "https://127.0.0.1:$API_PORT/version" >/dev/null ||
    fail "curl --cacert $PKI/ca.crt https://127.0.0.1:$API_PORT failed"
  phase
  trap - EXIT INT TERM
  log "bed is up in $(elapsed "$T0")s"
  cat <<EOF
Kubernetes v$K8S_VERSION is up: node $(node_name) ($(node_ip)), apiserver https://127.0.0.1:$API_PORT
  export KUBECONFIG=$KUBECONFIG_PATH        # or: eval "\$(e2e/cluster.sh env)"
  kubectl get nodes
Images: $PAUSE_IMAGE $BUSYBOX_IMAGE (imagePullPolicy: Never); more with: e2e/cluster.sh load-image <docker-archive.tar>
Stop with: e2e/cluster.sh down
EOF
}

cmd_down() {
  need_root
  local c
  for c in $STOP_ORDER; do stop_component "$c"; done
  cleanup_host
  rm -rf "$PIDS" "$RUN" "$NODE_DIR" "$BED/etcd" "$BED/kcm-certs" "$BED/scheduler-certs" "$KUBECONFIG_PATH"
  log "down ($(elapsed "$T0")s); logs kept in $LOGS"
}

cmd_env() {
  local helm
  helm=$("$HERE/build-k8s.sh" helm-path)
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_PATH"
  printf 'export RUNWISP_BED_DIR=%q\n' "$BED"
  printf 'export RUNWISP_BED_NAME=%q\n' "$BED_NAME"
  printf 'export RUNWISP_API_HOST=127.0.0.1\n'
  printf 'export RUNWISP_API_PORT=%q\n' "$API_PORT"
  printf 'export RUNWISP_NODE_NAME=%q\n' "$(node_name)"
  printf 'export RUNWISP_NODE_IP=%q\n' "$(node_ip)"
  # kubectl matching the server; /usr/bin/kubectl (v1.32) stays first in PATH for --subresource and friends
  printf 'export RUNWISP_KUBECTL=%q\n' "$(k8s_bin)/kubectl"
  printf 'export RUNWISP_BUSYBOX_IMAGE=%q\n' "$BUSYBOX_IMAGE"
  if [ -x "$helm" ]; then
    printf 'export RUNWISP_HELM=%q\n' "$helm"
    # shellcheck disable=SC2016 # $PATH is expanded by the shell that evals this
    case ":$PATH:" in *":$(dirname "$helm"):"*) ;; *) printf 'export PATH="$PATH":%q\n' "$(dirname "$helm")" ;; esac
  fi
}

# ---------------------------------------------------------------------------------------------------------
# Fault injection (the reliability tests): kill one component like a crash, start it again.
# ---------------------------------------------------------------------------------------------------------
check_component() { # NAME
  case " $COMPONENTS " in *" $1 "*) ;; *) die "unknown component '$1' (one of: $COMPONENTS)" ;; esac
}

# kill NAME: SIGKILL, no shutdown: a crashed apiserver, a lost node (kubelet, containerd and every
# container with it). The rest of the bed keeps running; `start NAME` brings it back.
cmd_kill() {
  local name=$1 pid i
  need_root
  check_component "$name"
  pid=$(pid_of "$name") || die "$name is not running"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do pid_of "$name" >/dev/null || break; sleep 0.1; done
  ! pid_of "$name" >/dev/null || die "$name ($pid) survived SIGKILL"
  rm -f "$PIDS/$name.pid"
  log "killed $name ($pid)"
}

# start NAME: starts one stopped component of a bed that is otherwise up, and waits until it serves.
# A node comes back like a rebooted machine: same kubelet state and containerd metadata, no process left.
cmd_start() {
  local name=$1 t
  need_root
  check_component "$name"
  ! pid_of "$name" >/dev/null || die "$name is already running"
  [ -d "$PIDS" ] || die "the bed is not up (e2e/cluster.sh up)"
  t=$(now)
  case "$name" in
    etcd) start_etcd ;;
    apiserver)
      start_apiserver
      wait_until "apiserver /readyz" api_ready
      ;;
    kcm) start_kcm ;;
    scheduler) start_scheduler ;;
    node)
      # what a reboot clears: the dead node's cgroups, and the runtime state a real node keeps on a tmpfs
      # (sockets, runc and shim state); containerd's metadata and the kubelet's directory stay
      remove_cgroups
      create_cgroup_root
      rm -rf "$RUN" "$NODE_DIR/containerd/state"
      mkdir -p "$RUN" "$NODE_DIR/containerd/state"
      start_node
      wait_until "kubelet /healthz" kubelet_healthy
      wait_until "node $(node_name) Ready" node_ready
      ;;
  esac
  log "started $name ($(pid_of "$name")) in $(elapsed "$t")s"
}

validate_config
case "${1:-help}" in
  up) cmd_up ;;
  down) cmd_down ;;
  purge) cmd_down; rm -rf "$BED"; log "removed $BED" ;;
  status) cmd_status ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  env) cmd_env ;;
  load-image)
    shift
    [ $# -gt 0 ] || die "usage: e2e/cluster.sh load-image <docker-archive.tar>..."
    need_root
    load_images "$@"
    ;;
  deps)
    if [ "${2:-}" = --check ]; then # lists what is missing; exit 1 if anything is
      absent=$(missing_packages)
      [ -z "$absent" ] || { echo "$absent"; exit 1; }
    else
      need_root
      apt_ensure
    fi
    ;;
  kill | start | restart)
    [ $# -eq 2 ] || die "usage: e2e/cluster.sh $1 <$(echo "$COMPONENTS" | tr ' ' '|')>"
    case "$1" in
      kill) cmd_kill "$2" ;;
      start) cmd_start "$2" ;;
      restart) cmd_kill "$2"; cmd_start "$2" ;;
    esac
    ;;
  _node) node_main ;;   # internal: PID 1 of the node namespace
  help | -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
