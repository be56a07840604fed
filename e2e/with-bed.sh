#!/usr/bin/env bash
# usage: e2e/with-bed.sh <command> [args...]
# Runs a command against a Kubernetes cluster and exits with the command's exit code:
#  - RUNWISP_USE_EXISTING_CLUSTER=1 and $KUBECONFIG reaches a cluster: just runs the command (nothing is
#    built or started);
#  - the local bed is already up: uses it and leaves it up;
#  - otherwise: `e2e/cluster.sh up`, runs the command, and `e2e/cluster.sh down` afterwards, also when the
#    command fails or the script is interrupted.
# The command sees KUBECONFIG and the RUNWISP_* variables of `e2e/cluster.sh env` (bed modes).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[with-bed] %s\n' "$*" >&2; }
[ $# -gt 0 ] || { echo "usage: e2e/with-bed.sh <command> [args...]" >&2; exit 2; }

reachable() { # the cluster behind $KUBECONFIG answers /readyz
  local kubectl
  kubectl=$(command -v kubectl || echo "$("$HERE/build-k8s.sh" path)/kubectl")
  [ -n "${KUBECONFIG:-}" ] && "$kubectl" --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

if [ "${RUNWISP_USE_EXISTING_CLUSTER:-0}" = 1 ]; then
  if reachable; then
    log "RUNWISP_USE_EXISTING_CLUSTER=1: using the cluster of KUBECONFIG=$KUBECONFIG"
    export KUBECONFIG
    exec "$@"
  fi
  log "WARNING: RUNWISP_USE_EXISTING_CLUSTER=1 but KUBECONFIG='${KUBECONFIG:-}' does not reach a cluster: using the local bed"
fi

STARTED=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
teardown() {
  local rc=$?
  if [ "$STARTED" = 1 ]; then
    log "tearing the bed down"
    "$HERE/cluster.sh" down || log "WARNING: e2e/cluster.sh down failed"
  fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if "$HERE/cluster.sh" status >/dev/null 2>&1; then
  log "the bed is already up: using it, leaving it up"
else
  STARTED=1 # set before up: a half-started bed is torn down too
  "$HERE/cluster.sh" up >&2
fi
eval "$("$HERE/cluster.sh" env)"

set +e
"$@"
rc=$?
set -e
log "command exited with $rc"
exit $rc
