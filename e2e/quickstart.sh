#!/usr/bin/env bash
# Quick start: a local Kubernetes (the bed), the CRDs, the operator, and the nightly-backup
# sample; then a manual run of the backup is followed to the end and shown.
#   e2e/quickstart.sh        bring it all up (idempotent)
#   e2e/quickstart.sh down   stop the operator and the bed
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STATE=${RUNWISP_BED_DIR:-/tmp/runwisp-bed}
PIDFILE=$STATE/quickstart-operator.pid
LOG=$STATE/logs/quickstart-operator.log
ADMIN_PORT=${RUNWISP_QUICKSTART_ADMIN_PORT:-18090}   # /metrics, /healthz, /readyz of the operator

stop_operator() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")" && echo "operator stopped"
  fi
  rm -f "$PIDFILE"
}

if [ "${1:-up}" = down ]; then
  stop_operator
  e2e/cluster.sh down
  exit 0
fi

e2e/cluster.sh up
eval "$(e2e/cluster.sh env)"
echo "== building the operator"
cargo build --quiet --bin runwisp-operator
K=/usr/bin/kubectl
[ -x "$K" ] || K=$(e2e/build-k8s.sh path)/kubectl
echo "== installing the CRDs"
"$K" apply --server-side -f crds/runwisp.dev.yaml >/dev/null
"$K" wait --for=condition=Established crd/runwisptasks.runwisp.dev crd/runwispruns.runwisp.dev >/dev/null

stop_operator
mkdir -p "$(dirname "$LOG")"
echo "== starting the operator (log: $LOG)"
nohup target/debug/runwisp-operator run --admin-addr 127.0.0.1:${ADMIN_PORT} \
  --default-image localhost/busybox:1.35 >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:${ADMIN_PORT}/readyz >/dev/null && break
  sleep 0.2
done

echo "== applying the nightly-backup sample"
"$K" apply -f e2e/quickstart/nightly-backup.yaml
echo "== triggering backup-postgres by hand and following it"
run=$(cargo run --quiet --bin runwisp-operator -- trigger backup-postgres 2>/dev/null || true)
if [ -z "$run" ]; then # the CLI is optional here: fall back to a plain manifest
  run=backup-postgres-quickstart-$(date +%s)
  "$K" create -f - <<YAML >/dev/null
apiVersion: runwisp.dev/v1alpha1
kind: RunWispRun
metadata: {name: $run}
spec: {taskRef: {name: backup-postgres}}
YAML
fi
echo "run: $run"
for _ in $(seq 1 120); do
  phase=$("$K" get rwrun "$run" -o jsonpath='{.status.phase}' 2>/dev/null || true)
  case "$phase" in Succeeded|Failed|Skipped|Stopped|Rejected) break ;; esac
  sleep 1
done
"$K" get rwtask
"$K" get rwrun
echo "== output of $run"
"$K" get rwrun "$run" -o jsonpath='{.status.attempts[-1].logTail}'
echo
[ "$phase" = Succeeded ] || { echo "run ended $phase" >&2; exit 1; }
cat <<MSG

The operator is running in the background and fires both tasks every minute or two.
  export KUBECONFIG=$KUBECONFIG
  kubectl get rwtask,rwrun            # tasks and their runs
  kubectl describe rwtask backup-postgres
  curl -s http://127.0.0.1:${ADMIN_PORT}/metrics | grep runwisp_
Stop everything with: e2e/quickstart.sh down
MSG
