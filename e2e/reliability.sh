#!/usr/bin/env bash
# The reliability loops, long: what survives what on the real bed, with the counts.
#
#   e2e/reliability.sh              50 trials per loop (about an hour on 2 cores)
#   e2e/reliability.sh 10           10 trials
#   e2e/reliability.sh summary      only print the summary of the last run
#
#   RUNWISP_RELIABILITY_PHASES=shared|disruptive   run only one of the two phases (default: both)
#   RUNWISP_RELIABILITY_APPEND=1                   add to the last results instead of starting over
#
# The same tests run in CI with 3 trials (tests/e2e/reliability.rs; the disruptive ones in their
# own step). Here every loop runs with TRIALS trials, plus the long phases
# (RUNWISP_RELIABILITY_LONG=1: an alert endpoint down for 3 minutes, then past the ~5-minute
# delivery budget; a node lost until the node controller evicts its pods). The node loop runs
# RUNWISP_RELIABILITY_NODE_TRIALS trials (default 15: each failure mode 5 times).
#
# On a bed of its own (RUNWISP_BED_DIR, default /tmp/runwisp-reliability, ports offset by 800),
# brought up and down by e2e/with-bed.sh unless it already runs. First the loops that share the
# cluster, side by side; then, alone, the two that take part of it down (the apiserver, the node).
#
# Output: one line per loop, `RELIABILITY <loop> key=value ...` (target/reliability/results.txt),
# a summary table, and bench/reliability.json. Operator logs: target/reliability/logs/.
# Exit status: non-zero when any loop failed its guarantee (the summary is printed regardless).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUT_DIR=${RUNWISP_RELIABILITY_DIR:-$REPO/target/reliability}
RESULTS=$OUT_DIR/results.txt
JSON=${RUNWISP_RELIABILITY_JSON:-$REPO/bench/reliability.json}

# a bed of its own, so that a developer's bed (and the e2e suite's) is never touched
export RUNWISP_BED_DIR=${RUNWISP_BED_DIR:-/tmp/runwisp-reliability}
export RUNWISP_BED_NAME=${RUNWISP_BED_NAME:-reliab}
export RUNWISP_PORT_OFFSET=${RUNWISP_PORT_OFFSET:-800}
export RUNWISP_POD_SUBNET=${RUNWISP_POD_SUBNET:-10.252.0.0/16}

log() { printf '[reliability] %s\n' "$*" >&2; }

# summary: the counts of every loop, as a table, and as JSON
summary() {
  [ -s "$RESULTS" ] || { log "no results in $RESULTS"; return 1; }
  printf '\n=== reliability (%s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  awk '
    $1 == "RELIABILITY" {
      line = sprintf("  %-32s", $2)
      for (i = 3; i <= NF; i++) line = line " " $i
      print line
    }' "$RESULTS"
  printf '\n'
  awk '
    function g(loop, key) { return ((loop, key) in v) ? v[loop, key] : "-" }
    $1 == "RELIABILITY" {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[$2, kv[1]] = kv[2] }
    }
    END {
      l = "exactly_once_operator_sigkill"
      printf "  exactly-once, operator SIGKILL:  trials %s, ticks %s, duplicates %s, lost %s, missed %s\n", \
        g(l, "trials"), g(l, "ticks"), g(l, "duplicates"), g(l, "lost"), g(l, "missed")
      l = "exactly_once_apiserver_restart"
      printf "  exactly-once, apiserver restart: trials %s, ticks %s, duplicates %s, lost %s, false missed %s, overlaps %s\n", \
        g(l, "trials"), g(l, "ticks"), g(l, "duplicates"), g(l, "lost"), g(l, "false_missed"), g(l, "overlaps")
      l = "exactly_once_leader_failover"
      printf "  exactly-once, leader failover:   trials %s, ticks %s, duplicates %s, lost %s, false missed %s, takeover max %s ms\n", \
        g(l, "trials"), g(l, "ticks"), g(l, "duplicates"), g(l, "lost"), g(l, "false_missed"), g(l, "max_takeover_ms")
      l = "downtime_catch_up"
      printf "  downtime across ticks:           trials %s, gaps %s (+%s while busy), MissedRuns Events %s, run.missed alerts %s, wrong %s\n", \
        g(l, "trials"), g(l, "gaps"), g(l, "busy_gaps"), g(l, "missed_events"), g(l, "missed_alerts"), g(l, "wrong")
      l = "node_failure"
      printf "  node failure:                    trials %s, crashed->retried %s, watchdog->retried %s, other end %s, hung %s\n", \
        g(l, "trials"), g(l, "crashed_retried"), g(l, "watchdog_retried"), g(l, "other_end"), g(l, "hung")
      l = "alert_outage"
      printf "  alert endpoint down:             alerts %s, delivered %s, lost %s, duplicated %s, gave up %s, late %s\n", \
        g(l, "alerts"), g(l, "delivered"), g(l, "lost"), g(l, "duplicated"), g(l, "gave_up"), g(l, "late_posts")
      l = "bad_input_corpus"
      printf "  bad input:                       cases %s, refused at apply %s, InvalidSpec %s, wrong %s\n", \
        g(l, "cases"), g(l, "refused_at_apply"), g(l, "invalid_spec_condition"), g(l, "wrong")
      printf "  undecodable task:                refused at apply %s (else: others kept firing %s, after a restart %s)\n", \
        g("poison_task", "refused_at_apply"), g("poison_task", "kept_firing"), g("poison_task", "kept_firing_after_restart")
      printf "  lost status of a missed record:  executed %s;  runs ending together, each with its Event: %s without\n", \
        g("missed_record_status_lost", "executed"), g("events_per_run", "without_event")
      printf "  security:                        403s of the operator %s, secret leaks %s, unauthorized trigger refused %s\n", \
        g("security", "forbidden"), g("security", "leaks"), g("security_trigger", "forbidden_create")
    }' "$RESULTS"
  mkdir -p "$(dirname "$JSON")"
  awk -v at="$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
    BEGIN { printf "[" ; n = 0 }
    $1 == "RELIABILITY" {
      printf "%s\n {\"loop\": \"%s\", \"measured_at\": \"%s\"", (n++ ? "," : ""), $2, at
      for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[2] ~ /^-?[0-9]+(\.[0-9]+)?$/) printf ", \"%s\": %s", kv[1], kv[2]
        else printf ", \"%s\": \"%s\"", kv[1], kv[2]
      }
      printf "}"
    }
    END { print "\n]" }' "$RESULTS" >"$JSON.tmp" && mv "$JSON.tmp" "$JSON"
  log "results: $RESULTS, $JSON"
}

if [ "${1:-}" = summary ]; then
  summary
  exit
fi
TRIALS=${1:-50}
if ! [[ $TRIALS =~ ^[0-9]+$ ]] || [ "$TRIALS" -lt 1 ]; then
  echo "usage: e2e/reliability.sh [TRIALS|summary]" >&2
  exit 2
fi
export RUNWISP_RELIABILITY_TRIALS=$TRIALS
export RUNWISP_RELIABILITY_LONG=${RUNWISP_RELIABILITY_LONG:-1}
export RUNWISP_RELIABILITY_NODE_TRIALS=${RUNWISP_RELIABILITY_NODE_TRIALS:-15}
export RUNWISP_RELIABILITY_OUT=$RESULTS
export RUNWISP_E2E_LOGS=$OUT_DIR/logs
mkdir -p "$RUNWISP_E2E_LOGS"
[ "${RUNWISP_RELIABILITY_APPEND:-0}" = 1 ] || rm -f "$RESULTS"
PHASES=${RUNWISP_RELIABILITY_PHASES:-shared,disruptive}
export PHASES

cd "$REPO"
log "building the e2e suite"
cargo test --features e2e --test e2e --no-run
log "$TRIALS trials per loop (node: $RUNWISP_RELIABILITY_NODE_TRIALS), long phases: $RUNWISP_RELIABILITY_LONG, bed $RUNWISP_BED_DIR"
T0=$SECONDS
set +e
# shellcheck disable=SC2016 # expanded by the inner shell, after with-bed.sh has exported the bed
"$HERE/with-bed.sh" bash -c '
  rc=0
  case ",$PHASES," in *,shared,*)
    echo "[reliability] the loops that share the cluster, side by side" >&2
    cargo test --features e2e --test e2e -- --test-threads=8 --nocapture reliability:: \
      --skip exactly_once_across_apiserver_restarts \
      --skip a_node_failure_under_a_running_attempt_ends_crashed_and_retries || rc=1
  esac
  case ",$PHASES," in *,disruptive,*)
    echo "[reliability] the loops that take part of the cluster down, alone" >&2
    RUNWISP_E2E_DISRUPTIVE=1 cargo test --features e2e --test e2e -- --test-threads=1 --nocapture \
      reliability::exactly_once_across_apiserver_restarts \
      reliability::a_node_failure_under_a_running_attempt_ends_crashed_and_retries || rc=1
  esac
  exit $rc
'
rc=$?
set -e
log "done in $((SECONDS - T0)) s (exit $rc)"
summary || true
exit $rc
