#!/usr/bin/env bash
# usage: e2e/packaging.sh
#
# The packaging end to end on the local bed: the container image, the Helm chart and the samples,
# with the operator running in-cluster exactly as a user installs it. Prints PASS/FAIL per check and
# a timing summary; exits non-zero if any check failed.
#   1. e2e/build-image.sh, then `e2e/cluster.sh load-image` (skip the build with RUNWISP_IMAGE_TAR=x.tar
#      holding localhost/runwisp-operator:$RUNWISP_PKG_TAG);
#   2. `helm install` into runwisp-system (hostNetwork, the bed's API server address, pullPolicy Never);
#      config/ and the samples pass a server-side dry run; a task firing every 10 s has a run Succeeded;
#      /metrics shows runwisp_firings_total > 0; the operator runs as uid 65532;
#   3. `helm upgrade` (logLevel=debug) replaces the pod and runs keep succeeding;
#   4. `helm upgrade` to two replicas with leader election: exactly one replica leads (the Lease
#      holder; both are ready, the standby as a standby); the leader is force-deleted; the standby takes over (time printed) and no tick has two runs;
#   5. `helm uninstall` leaves no object of the release behind, only the CRDs (and the operator's Lease);
#   6. a namespace-scoped release (watchNamespaces: [one]) works with Roles only.
#
# Runs on the bed of $KUBECONFIG (as set by e2e/with-bed.sh or `eval "$(e2e/cluster.sh env)"`); without
# KUBECONFIG it re-runs itself under e2e/with-bed.sh (bed started and stopped around it).
# It installs a cluster-wide operator: do not run it on a bed where the e2e suite runs at the same time.
#
# Environment: RUNWISP_PKG_TAG (image tag, "e2e"), RUNWISP_PKG_ADMIN_PORT (the operator's admin port on
# the node; default 18080 + the bed's port offset), RUNWISP_PKG_KEEP=1 (leave everything installed on exit).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT" || exit 1
if [ -z "${KUBECONFIG:-}" ]; then
  exec "$HERE/with-bed.sh" "$HERE/packaging.sh" "$@"
fi
: "${RUNWISP_API_PORT:?run under e2e/with-bed.sh or after eval \"\$(e2e/cluster.sh env)\"}"

TAG=${RUNWISP_PKG_TAG:-e2e}
IMAGE_REPO=localhost/runwisp-operator
HELM=${RUNWISP_HELM:-$("$HERE/build-k8s.sh" helm-path)}
CHART=$ROOT/charts/runwisp-operator
RELEASE=runwisp-operator
NS=runwisp-system
TEST_NS=rw-pkg-e2e
SCOPED_RELEASE=rw-pkg-scoped
SCOPED_NS=rw-pkg-scoped
ADMIN_PORT=${RUNWISP_PKG_ADMIN_PORT:-$((18080 + RUNWISP_API_PORT - 7443))}
LEASE_SECONDS=15 # the chart's default leaderElection.leaseDuration
TASK_IMAGE=${RUNWISP_BUSYBOX_IMAGE:-localhost/busybox:1.35}
SELECTOR=app.kubernetes.io/instance=$RELEASE

now() { date +%s.%N; }
T0=$(now)
since() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a-b}'; }
log() { printf '[packaging %6ss] %s\n' "$(since "$T0")" "$*" >&2; }
FAILED=() PASSED=0 TIMINGS=()
pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED+=("$*"); printf 'FAIL  %s\n' "$*"; }
info() { printf 'INFO  %s\n' "$*"; }
timing() { TIMINGS+=("$(printf '%-46s %7ss' "$1" "$2")"); info "$1: $2 s"; }
check() { # check DESC CMD... : PASS/FAIL by the command's status
  local desc=$1; shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}
quiet() { "$@" >/dev/null 2>&1; }
wait_until() { # wait_until TIMEOUT CMD... : polls every 0.5 s
  local deadline; deadline=$(awk -v a="$(now)" -v t="$1" 'BEGIN{printf "%.3f", a+t}'); shift
  until "$@"; do
    awk -v a="$(now)" -v d="$deadline" 'BEGIN{exit !(a > d)}' && return 1
    sleep 0.5
  done
}
k() { kubectl "$@"; }
helm_() { "$HELM" "$@"; }

# Values every install on the bed needs: no kube-proxy, so the operator uses the node's network and the
# API server's loopback address; the image was loaded by hand, so it is never pulled.
BED_VALUES=(
  --set hostNetwork=true
  --set kubernetesService.host=127.0.0.1
  --set "kubernetesService.port=$RUNWISP_API_PORT"
  --set "image.repository=$IMAGE_REPO" --set "image.tag=$TAG" --set image.pullPolicy=Never
  --set "defaultImage=$TASK_IMAGE"
)

CRDS_EXISTED=0
k get crd runwisptasks.runwisp.dev >/dev/null 2>&1 && CRDS_EXISTED=1
cleanup() {
  local rc=$?
  if [ "${RUNWISP_PKG_KEEP:-0}" = 1 ]; then
    log "RUNWISP_PKG_KEEP=1: leaving the releases and namespaces installed"
    exit "$rc"
  fi
  helm_ uninstall -n "$NS" "$RELEASE" >/dev/null 2>&1 || true
  helm_ uninstall -n "$NS" "$SCOPED_RELEASE" >/dev/null 2>&1 || true
  k delete ns "$TEST_NS" "$SCOPED_NS" "$NS" --ignore-not-found --timeout=90s >/dev/null 2>&1 || true
  if [ "$CRDS_EXISTED" = 0 ]; then
    k delete crd runwisptasks.runwisp.dev runwispruns.runwisp.dev runwispnotifiers.runwisp.dev \
      --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers about the operator pods ------------------------------------------------------------------
op_pods() { # running operator pods of the release (name per line)
  k -n "$NS" get pods -l "$SELECTOR" \
    -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}' 2>/dev/null
}
pod_pid() { # host pid of a pod's operator process, from its container ID in /proc/*/cgroup
  local cid
  cid=$(k -n "$NS" get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}' 2>/dev/null)
  cid=${cid#*://}
  [ -n "$cid" ] || return 1
  grep -l -- "$cid" /proc/[0-9]*/cgroup 2>/dev/null | head -n1 | cut -d/ -f3
}
pid_port() { # the TCP port a pid listens on (its admin endpoint)
  ss -Hltnp 2>/dev/null | awk -v p="pid=$1," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }'
}
readyz() { # HTTP status of /readyz on a port
  curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null
}
lease_holder() { k -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
deployment_ready() { # all replicas updated and running (the Deployment's own view)
  k -n "$NS" rollout status "deployment/$RELEASE" --timeout=2s >/dev/null 2>&1
}
ns_ready() { [ -n "$(k get sa default -n "$1" -o jsonpath='{.secrets[0].name}' 2>/dev/null)" ]; }
runs() { # NAME SCHEDULED PHASE of the tick task's runs
  k -n "$TEST_NS" get rwrun -o jsonpath='{range .items[?(@.spec.taskRef.name=="tick")]}{.metadata.name} {.spec.scheduledTime} {.status.phase}{"\n"}{end}' 2>/dev/null
}
succeeded_after() { # a tick run scheduled at/after epoch $1 Succeeded
  local t phase
  while read -r _ t phase; do
    [ "$phase" = Succeeded ] || continue
    [ "$(date -d "$t" +%s)" -ge "${1%.*}" ] && return 0
  done < <(runs)
  return 1
}
firings_total() {
  curl -s -m 2 "http://127.0.0.1:$1/metrics" | awk '/^runwisp_firings_total/ { s += $NF } END { print s + 0 }'
}

# namespaces of an earlier run may still be terminating
gone() { [ -z "$(k get ns "$TEST_NS" "$SCOPED_NS" "$NS" -o name --ignore-not-found 2>/dev/null)" ]; }
if ! gone; then
  log "waiting for the namespaces of an earlier run to go away"
  helm_ uninstall -n "$NS" "$RELEASE" >/dev/null 2>&1
  helm_ uninstall -n "$NS" "$SCOPED_RELEASE" >/dev/null 2>&1
  k delete ns "$TEST_NS" "$SCOPED_NS" "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
  wait_until 120 gone || { fail "namespaces of an earlier run are still there"; exit 1; }
fi

# ---- 1. image ---------------------------------------------------------------------------------------
if [ -n "${RUNWISP_IMAGE_TAR:-}" ]; then
  TAR=$RUNWISP_IMAGE_TAR
  info "using the prebuilt image $TAR"
else
  t=$(now)
  if TAR=$("$HERE/build-image.sh" "$TAG"); then pass "image built: $IMAGE_REPO:$TAG"; else fail "e2e/build-image.sh"; exit 1; fi
  timing "image build (e2e/build-image.sh)" "$(since "$t")"
fi
t=$(now)
if "$HERE/cluster.sh" load-image "$TAR" >/dev/null 2>&1; then pass "image loaded into the node"; else fail "e2e/cluster.sh load-image $TAR"; exit 1; fi
timing "load-image" "$(since "$t")"

if [ -n "$(ss -Hltn "sport = :$ADMIN_PORT")" ]; then
  fail "admin port $ADMIN_PORT is already in use on this machine (set RUNWISP_PKG_ADMIN_PORT)"
  exit 1
fi

# ---- 2. install -------------------------------------------------------------------------------------
log "helm install $RELEASE (admin port $ADMIN_PORT)"
T_INSTALL=$(now)
if helm_ install "$RELEASE" "$CHART" -n "$NS" --create-namespace "${BED_VALUES[@]}" \
  --set "admin.port=$ADMIN_PORT" >/dev/null; then
  pass "helm install"
else
  fail "helm install"; exit 1
fi
if wait_until 90 deployment_ready; then
  pass "operator Deployment ready (1/1; readiness = leader with synced caches)"
  timing "helm install -> operator ready" "$(since "$T_INSTALL")"
else
  fail "operator Deployment not ready within 90 s"
  k -n "$NS" get pods -o wide; k -n "$NS" logs -l "$SELECTOR" --tail=30
  exit 1
fi

k create ns "$TEST_NS" >/dev/null
wait_until 30 ns_ready "$TEST_NS" || fail "namespace $TEST_NS has no default ServiceAccount token"
k -n "$TEST_NS" apply -f - >/dev/null <<EOF
apiVersion: runwisp.dev/v1alpha1
kind: RunWispTask
metadata:
  name: tick
spec:
  description: packaging e2e, fires every 10 seconds
  cron: "*/10 * * * * *"
  keepRuns: 200
  run: echo "tick \$(date -u +%T)"
  podTemplate:
    spec:
      terminationGracePeriodSeconds: 1
EOF
k -n "$TEST_NS" apply -f config/samples/local/ >/dev/null
if wait_until 60 succeeded_after 0; then
  pass "a run of the 10 s task Succeeded in-cluster"
  timing "helm install -> first run Succeeded" "$(since "$T_INSTALL")"
else
  fail "no run of the 10 s task Succeeded within 60 s"; runs
fi

# the samples validate against the real API server (CRD schemas; config/ itself is checked after uninstall)
check "config/samples/ and its secrets template pass a server-side dry run" \
  quiet k -n "$TEST_NS" apply --dry-run=server -f config/samples/ -f config/samples/secrets.yaml.template

check "/healthz and /readyz answer 200" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:$ADMIN_PORT/healthz)\" = 200 ] && [ \"\$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:$ADMIN_PORT/readyz)\" = 200 ]"
F=$(firings_total "$ADMIN_PORT")
if awk -v f="$F" 'BEGIN{exit !(f > 0)}'; then pass "/metrics: runwisp_firings_total = $F (> 0)"; else fail "/metrics: runwisp_firings_total = $F"; fi
POD=$(op_pods | head -n1)
PID=$(pod_pid "$POD")
UIDS=$(awk '/^Uid:/ { print $2, $3 }' "/proc/$PID/status" 2>/dev/null)
check "operator process runs as uid 65532 (Uid: $UIDS)" [ "$UIDS" = "65532 65532" ]
check "pod securityContext: readOnlyRootFilesystem, no privilege escalation, all capabilities dropped" \
  bash -c "[ \"\$(kubectl -n $NS get pod $POD -o jsonpath='{.spec.containers[0].securityContext.readOnlyRootFilesystem} {.spec.containers[0].securityContext.allowPrivilegeEscalation} {.spec.containers[0].securityContext.capabilities.drop[0]}')\" = 'true false ALL' ]"
# An RBAC denial reads '... is forbidden: User "system:serviceaccount:..." cannot <verb> ...'. Other
# 403s are not about the chart's RBAC (a namespace being deleted refuses new objects), nor is a bare
# 403 (it also matches log timestamps, …:22.403…Z).
ERRS=$(k -n "$NS" logs "$POD" 2>/dev/null | grep -E 'forbidden: User' || true)
check "no RBAC denial in the operator log (cluster-wide install)" [ -z "$ERRS" ]
[ -z "$ERRS" ] || printf '%s\n' "$ERRS" | head -5 >&2

# ---- 3. upgrade ---------------------------------------------------------------------------------------
log "helm upgrade --set logLevel=debug"
T_UP=$(now)
if helm_ upgrade "$RELEASE" "$CHART" -n "$NS" --reuse-values --set logLevel=debug >/dev/null; then
  pass "helm upgrade (logLevel=debug)"
else
  fail "helm upgrade (logLevel=debug)"
fi
new_pod_ready() { local p; p=$(op_pods | head -n1); [ -n "$p" ] && [ "$p" != "$POD" ] && deployment_ready; }
if wait_until 90 new_pod_ready; then
  timing "helm upgrade -> new operator ready" "$(since "$T_UP")"
  POD=$(op_pods | head -n1)
  check "the new pod runs with RUST_LOG=debug" \
    bash -c "kubectl -n $NS get pod $POD -o jsonpath='{.spec.containers[0].env[?(@.name==\"RUST_LOG\")].value}' | grep -qx debug"
else
  fail "no new operator pod ready within 90 s after the upgrade"
fi
if wait_until 60 succeeded_after "$T_UP"; then
  pass "runs keep succeeding after the upgrade"
  timing "helm upgrade -> next run Succeeded" "$(since "$T_UP")"
else
  fail "no run Succeeded within 60 s after the upgrade"
fi

# ---- 4. two replicas, leader election, failover ----------------------------------------------------------
# With hostNetwork both replicas share the node's ports, so a fixed admin port would let only one of them
# bind (and the kubelet's HTTP probes could not tell the replicas apart): admin.port=0 binds an ephemeral
# port per replica and drops the probes; readiness is checked here per replica, on its own port.
# --server-side=false: Kubernetes 1.20's server-side apply leaves the defaulted remains of the removed
# probes behind (httpGet.port 0, rejected); the client-side three-way merge deletes them whole.
log "helm upgrade --set replicas=2 --set admin.port=0"
T_UP2=$(now)
if helm_ upgrade "$RELEASE" "$CHART" -n "$NS" --reuse-values --server-side=false \
  --set replicas=2 --set admin.port=0 >/dev/null; then
  pass "helm upgrade to 2 replicas"
else
  fail "helm upgrade to 2 replicas"
fi
declare -A PORT
ports_known() { # both pods running, each with its admin port found
  local p pid n=0
  for p in $(op_pods); do
    [ -n "${PORT[$p]:-}" ] || { pid=$(pod_pid "$p") && [ -n "$pid" ] && PORT[$p]=$(pid_port "$pid"); }
    [ -n "${PORT[$p]:-}" ] && n=$((n + 1))
  done
  [ "$n" = 2 ] && [ "$(op_pods | wc -l)" = 2 ]
}
is_leader() { # the replica's own gauge: runwisp_leader 1 while it is the active controller
  curl -s -m 2 "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -qx 'runwisp_leader 1'
}
leader_replicas() { # pods that report leading, with synced caches (/readyz 200)
  local p
  for p in $(op_pods); do
    [ -n "${PORT[$p]:-}" ] && is_leader "${PORT[$p]}" && [ "$(readyz "${PORT[$p]}")" = 200 ] && echo "$p"
  done
}
one_ready() { [ "$(leader_replicas | wc -l)" = 1 ]; }
LEADER="" STANDBY=""
if wait_until 90 ports_known && wait_until 60 one_ready; then
  LEADER=$(leader_replicas)
  STANDBY=$(op_pods | grep -vx "$LEADER")
  timing "helm upgrade -> 2 replicas, one leader ready" "$(since "$T_UP2")"
  check "exactly one of 2 replicas leads ($LEADER), and it holds the Lease" [ "$(lease_holder)" = "$LEADER" ]
  check "the standby ($STANDBY) is ready as a standby (/readyz $(readyz "${PORT[$STANDBY]}")) and does not lead" \
    bash -c "[ \"$(readyz "${PORT[$STANDBY]}")\" = 200 ] && ! curl -s -m 2 http://127.0.0.1:${PORT[$STANDBY]}/metrics | grep -qx 'runwisp_leader 1'"
else
  fail "2 replicas with exactly one leader (leading: $(leader_replicas | tr '\n' ' '))"
fi

if [ -n "$LEADER" ] && [ -n "$STANDBY" ]; then
  sleep 12 # let a tick or two fire under the new leader
  RENEW=$(date -d "$(k -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.renewTime}')" +%s.%N)
  LEADER_PID=$(pod_pid "$LEADER")
  log "killing the leader $LEADER (SIGKILL to pid $LEADER_PID, then the pod is force-deleted); standby $STANDBY"
  T_KILL=$(now)
  # A crash, not a shutdown: a SIGTERMed leader would hand its Lease over at once.
  kill -9 "$LEADER_PID" 2>/dev/null
  k -n "$NS" delete pod "$LEADER" --grace-period=0 --force >/dev/null 2>&1
  # The standby or the ReplicaSet's replacement pod (whichever asks first after the Lease
  # expires) takes over.
  took_over() { local h; h=$(lease_holder); [ -n "$h" ] && [ "$h" != "$LEADER" ]; }
  if wait_until $((LEASE_SECONDS * 3)) took_over; then
    T_TAKE=$(now)
    FAILOVER=$(minus "$T_TAKE" "$T_KILL")
    AFTER_EXPIRY=$(minus "$T_TAKE" "$(awk -v r="$RENEW" -v d="$LEASE_SECONDS" 'BEGIN{printf "%.3f", r+d}')")
    timing "failover: leader killed -> another replica leads ($(lease_holder))" "$FAILOVER"
    info "another replica took over ${AFTER_EXPIRY} s after the old lease expired (lease ${LEASE_SECONDS} s, last renewed $(minus "$T_KILL" "$RENEW") s before the kill; standbys retry every $((LEASE_SECONDS / 5)) s)"
    # bound: the lease expires at most leaseDuration after the kill; a standby notices within one retry period
    BOUND=$((LEASE_SECONDS + LEASE_SECONDS / 5 + 2))
    check "another replica took over in ${FAILOVER} s (<= lease ${LEASE_SECONDS} s + retry $((LEASE_SECONDS / 5)) s + 2 s)" \
      awk -v f="$FAILOVER" -v b="$BOUND" 'BEGIN{exit !(f <= b)}'
  else
    fail "no other replica took over within $((LEASE_SECONDS * 3)) s (holder: $(lease_holder))"
  fi
  check "the old leader's process is gone" bash -c "! kill -0 $LEADER_PID 2>/dev/null"
  if wait_until 40 succeeded_after "$T_KILL"; then
    pass "runs keep succeeding under the new leader"
  else
    fail "no run Succeeded within 40 s after the failover"
  fi
  # the Deployment replaced the killed pod: it must come back as a standby
  PORT=()
  if wait_until 60 ports_known && wait_until 30 one_ready; then
    check "after the replacement pod started: still exactly one replica leads ($(leader_replicas | tr '\n' ' '))" one_ready
  else
    fail "the replacement pod did not come up as a standby (leading: $(leader_replicas | tr '\n' ' '))"
  fi
fi
# A leader change leaves a gap (about the lease duration). By design (src/firing.rs) only the newest due
# tick fires on time; an older one in the gap gets a `<run>-missed` record (phase Failed, endReason
# missed: bookkeeping, no pod) and, with catchUp: latest, a catch-up run under the tick's own run name.
# So a tick may have one record and one execution, but never two executions.
RUNS=$(k -n "$TEST_NS" get rwrun -o jsonpath='{range .items[?(@.spec.taskRef.name=="tick")]}{.metadata.name} {.spec.scheduledTime} {.status.phase} {.status.endReason} {.spec.trigger}{"\n"}{end}' 2>/dev/null)
EXECUTED=$(awk '$4 != "missed"' <<<"$RUNS")
DUP_TICKS=$(awk '{ print $2 }' <<<"$EXECUTED" | sort | uniq -d)
DUP_NAMES=$(awk '{ print $1 }' <<<"$RUNS" | sort | uniq -d)
check "no tick ran twice and no run name repeats ($(wc -l <<<"$EXECUTED") runs executed)" [ -z "$DUP_TICKS$DUP_NAMES" ]
MISSING=$(awk '{ print $2 }' <<<"$EXECUTED" | sort | while read -r t; do date -d "$t" +%s; done |
  awk 'NR > 1 { for (s = prev + 10; s < $1; s += 10) n++ } { prev = $1 } END { print n + 0 }')
info "ticks without an execution between the first and the last: $MISSING"
info "missed-tick records left by the leader changes (upgrade, failover): $(awk '$4 == "missed" { printf "%s ", $1 }' <<<"$RUNS")"
if [ -n "$DUP_TICKS$DUP_NAMES" ]; then
  info "runs of the 10 s task (name, scheduled, phase, end reason, trigger):"
  awk '{ print "      " $0 }' <<<"$RUNS"
fi
BAD=$(awk '$3 != "Succeeded" && $3 != "Running" && $3 != "Queued" && $3 != "" { printf "%s:%s ", $1, $3 }' <<<"$EXECUTED")
check "every executed run of the 10 s task Succeeded or is still going ${BAD:+(not: $BAD)}" [ -z "$BAD" ]
# The sample fires on the minute: its first tick may fall in a leader change above, or be still running.
sample_ok() {
  SAMPLE=$(k -n "$TEST_NS" get rwrun -o jsonpath='{range .items[?(@.spec.taskRef.name=="backup-simulated")]}{.status.phase}{"\n"}{end}' 2>/dev/null | grep -c Succeeded)
  SAMPLE_LOG=$(k -n "$TEST_NS" logs -l runwisp.dev/task=backup-simulated --tail=1 2>/dev/null | grep -c '^Wrote ')
  [ "$SAMPLE" -gt 0 ] && [ "$SAMPLE_LOG" -gt 0 ]
}
SAMPLE=0 SAMPLE_LOG=0
if wait_until 90 sample_ok; then
  pass "config/samples/local: backup-simulated Succeeded ($SAMPLE runs) and logged 'Wrote ...'"
else
  fail "config/samples/local: backup-simulated: $SAMPLE runs Succeeded, $SAMPLE_LOG logged 'Wrote ...' (90 s after the upgrades)"
  k -n "$TEST_NS" get rwrun -l runwisp.dev/task=backup-simulated 2>&1 | sed 's/^/      /'
fi

# ---- 5. uninstall ---------------------------------------------------------------------------------------
k -n "$TEST_NS" delete rwtask --all --wait=false >/dev/null
log "helm uninstall $RELEASE"
T_UN=$(now)
if helm_ uninstall -n "$NS" "$RELEASE" --wait --timeout 90s >/dev/null; then pass "helm uninstall"; else fail "helm uninstall"; fi
no_pods() { [ -z "$(k -n "$NS" get pods -l "$SELECTOR" -o name 2>/dev/null)" ]; }
wait_until 60 no_pods || fail "operator pods still there 60 s after uninstall"
timing "helm uninstall -> no operator pod" "$(since "$T_UN")"
LEFT=$(k get deployments,replicasets,pods,services,serviceaccounts,configmaps,secrets,roles,rolebindings \
  -A -l "$SELECTOR" -o name 2>&1; k get clusterroles,clusterrolebindings -l "$SELECTOR" -o name 2>&1)
check "nothing labelled $SELECTOR is left ${LEFT:+($(tr '\n' ' ' <<<"$LEFT"))}" [ -z "$LEFT" ]
check "no Helm release record is left" bash -c "[ -z \"\$(kubectl -n $NS get secrets -l owner=helm,name=$RELEASE -o name)\" ]"
check "the CRDs stay (Helm never deletes crds/)" \
  quiet k get crd runwisptasks.runwisp.dev runwispruns.runwisp.dev runwispnotifiers.runwisp.dev
# the plain manifests validate against the real API server, now that the release's objects are gone
check "config/ (kubectl apply -k config/) passes a server-side dry run" \
  quiet k apply --dry-run=server -k config/
info "left in $NS by the operator itself (runtime state, goes with the namespace): $(k -n "$NS" get leases -o name | tr '\n' ' ')"

# ---- 6. namespace-scoped release (Roles only) -------------------------------------------------------------
log "helm install $SCOPED_RELEASE with watchNamespaces=[$SCOPED_NS]"
k create ns "$SCOPED_NS" >/dev/null
wait_until 30 ns_ready "$SCOPED_NS" || true
T_SC=$(now)
if helm_ install "$SCOPED_RELEASE" "$CHART" -n "$NS" "${BED_VALUES[@]}" \
  --set "watchNamespaces={$SCOPED_NS}" --set admin.port=0 --set rbac.aggregateToDefaultRoles=false >/dev/null; then
  pass "helm install with watchNamespaces=[$SCOPED_NS]"
else
  fail "helm install with watchNamespaces=[$SCOPED_NS]"
fi
check "namespace-scoped: a Role in $SCOPED_NS and no ClusterRole for the operator" bash -c \
  "kubectl -n $SCOPED_NS get role $SCOPED_RELEASE-runwisp-operator -o name >/dev/null &&
   [ -z \"\$(kubectl get clusterroles -l app.kubernetes.io/instance=$SCOPED_RELEASE -o name)\" ]"
k -n "$SCOPED_NS" apply -f - >/dev/null <<EOF
apiVersion: runwisp.dev/v1alpha1
kind: RunWispTask
metadata:
  name: scoped
spec:
  cron: "*/10 * * * * *"
  run: echo scoped
  podTemplate:
    spec:
      terminationGracePeriodSeconds: 1
EOF
scoped_ok() { [[ " $(k -n "$SCOPED_NS" get rwrun -o jsonpath='{.items[*].status.phase}' 2>/dev/null) " = *" Succeeded "* ]]; }
if wait_until 60 scoped_ok; then
  pass "namespace-scoped operator: a run Succeeded in $SCOPED_NS"
  timing "scoped helm install -> first run Succeeded" "$(since "$T_SC")"
else
  fail "namespace-scoped operator: no run Succeeded in $SCOPED_NS within 60 s"
fi
SP=$(k -n "$NS" get pods -l "app.kubernetes.io/instance=$SCOPED_RELEASE" -o jsonpath='{.items[0].metadata.name}')
ERRS=$(k -n "$NS" logs "$SP" 2>/dev/null | grep -E 'forbidden: User' || true)
check "no RBAC denial in the namespace-scoped operator's log" [ -z "$ERRS" ]
[ -z "$ERRS" ] || printf '%s\n' "$ERRS" | head -5 >&2
k -n "$SCOPED_NS" delete rwtask --all --wait=false >/dev/null
helm_ uninstall -n "$NS" "$SCOPED_RELEASE" --wait --timeout 90s >/dev/null || fail "helm uninstall $SCOPED_RELEASE"

# ---- summary ----------------------------------------------------------------------------------------------
echo
echo "== timings"
printf '  %s\n' "${TIMINGS[@]}"
echo "== $PASSED passed, ${#FAILED[@]} failed ($(since "$T0") s)"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf '  FAILED: %s\n' "${FAILED[@]}"
  exit 1
fi
