#!/usr/bin/env bash
# Benchmarks of runwisp-operator against CronJobs on the local Kubernetes v1.20.2 bed. Not a test:
# nothing here is timed by CI. Results go to bench/results.json, bench/results.md and bench/skew.png.
#
#   e2e/bench.sh                      every size: 100, 1000, 5000, 10000 tasks (about 80 minutes)
#   e2e/bench.sh --tasks 100          one size (about 12 minutes)
#   e2e/bench.sh --tasks 1000 --systems runwisp,cronjob-v2 --ticks 3
#   e2e/bench.sh report               only redraw bench/results.md and bench/skew.png
#
# Every case runs on a fresh bed of its own (RUNWISP_BED_DIR, default /tmp/runwisp-bench, ports
# offset by 600), brought up and down here; see e2e/bench/README.md for what is measured and how.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CACHE=${RUNWISP_CACHE:-$HOME/.cache/runwisp-operator}
OUT=${RUNWISP_BENCH_OUT:-$REPO/bench}
VENV=${RUNWISP_BENCH_VENV:-$CACHE/bench-venv}

# a bed of its own, so that a developer's bed (and the e2e suite's) is never touched
export RUNWISP_BED_DIR=${RUNWISP_BED_DIR:-/tmp/runwisp-bench}
export RUNWISP_BED_NAME=${RUNWISP_BED_NAME:-bench}
export RUNWISP_PORT_OFFSET=${RUNWISP_PORT_OFFSET:-600}
export RUNWISP_POD_SUBNET=${RUNWISP_POD_SUBNET:-10.249.0.0/16}

log() { printf '[bench] %s\n' "$*" >&2; }

usage() {
  cat <<EOF
usage: e2e/bench.sh [--tasks N]... [options]      run the benchmark (default: every size)
       e2e/bench.sh report                        redraw bench/results.md and bench/skew.png

  --tasks N           one size (repeatable): 100, 1000, 5000, 10000 by default
  --systems LIST      comma-separated: runwisp,cronjob-v1,cronjob-v2,cronjob-v2-qps1000 (default: all)
  --ticks K           minutes measured per case (default 2)
  --drain S           seconds after the last tick a Pod still counts (default 90)
  --spread yes|no     also the 10000-task case spread over the minute (default: at 10000 tasks)
  --memory yes|no     also 10000 tasks + 30000 retained runs (default: when 10000 is a size)

Environment: RUNWISP_BED_DIR ($RUNWISP_BED_DIR), RUNWISP_BED_NAME ($RUNWISP_BED_NAME),
RUNWISP_PORT_OFFSET ($RUNWISP_PORT_OFFSET), RUNWISP_POD_SUBNET ($RUNWISP_POD_SUBNET),
RUNWISP_BENCH_OUT ($OUT), RUNWISP_BENCH_VENV ($VENV; matplotlib for the plot),
RUNWISP_BENCH_OPERATOR_ARGS (extra flags for the operator, e.g. "--concurrency 512"; recorded in each row).
Rows already in results.json for other sizes/systems are kept; a case run again replaces its row.
EOF
}

# the plot needs matplotlib: a venv of its own (the table does not)
report_python() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    log "preparing $VENV (matplotlib, for the plot)"
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib; } >&2 ||
      log "WARNING: no matplotlib; the table is written, the plot is not"
  fi
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "$VENV/bin/python"
  else
    echo python3
  fi
}

report() { "$(report_python)" "$HERE/bench/report.py" "$OUT"; }

case "${1:-}" in
  -h | --help | help) usage; exit 0 ;;
  report) report; exit 0 ;;
esac

[ "$(id -u)" = 0 ] || { log "must run as root (the bed does)"; exit 1; }
if "$HERE/cluster.sh" status >/dev/null 2>&1; then
  log "a bed is already up in $RUNWISP_BED_DIR: the benchmark restarts its bed for every case;"
  log "stop it (RUNWISP_BED_DIR=$RUNWISP_BED_DIR e2e/cluster.sh down) or choose another RUNWISP_BED_DIR"
  exit 1
fi

log "building the operator (release)"
(cd "$REPO" && cargo build --release --bin runwisp-operator)
target=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# a private copy: a rebuild during the benchmark must not swap the binary under it
BIN_DIR=$CACHE/bench-bin
mkdir -p "$BIN_DIR"
cp "$target/release/runwisp-operator" "$BIN_DIR/runwisp-operator.$$"
mv "$BIN_DIR/runwisp-operator.$$" "$BIN_DIR/runwisp-operator"
version="$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(cd "$REPO" && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then version="$version+dirty"; fi
version="$version binary:$(sha256sum "$BIN_DIR/runwisp-operator" | cut -c1-12)"

PY=$(report_python) # prepared before the first bed goes up
LOGDIR=$RUNWISP_BED_DIR-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$LOGDIR"
log "logs in $LOGDIR; results in $OUT"
trap '"$HERE/cluster.sh" down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
rc=0
python3 "$HERE/bench/bench.py" --operator "$BIN_DIR/runwisp-operator" --operator-version "$version" \
  --out "$OUT" --logdir "$LOGDIR" "$@" || rc=$?
if [ -f "$OUT/results.json" ]; then
  "$PY" "$HERE/bench/report.py" "$OUT"
  log "wrote $OUT/results.json, $OUT/results.md, $OUT/skew.png"
fi
exit "$rc"
