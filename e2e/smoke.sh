#!/usr/bin/env bash
# Proves that the cluster behind $KUBECONFIG (default: the local bed's) is a real one: pods run and exit with
# their exit code, logs come back through the apiserver, activeDeadlineSeconds is enforced, the garbage
# collector follows ownerReferences, and a CRD with a status subresource can be created, listed, watched and
# status-patched. Each check prints PASS/FAIL with its duration; the exit code is non-zero if any failed.
# Works in its own namespace (and a CRD with a unique group), both removed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export KUBECONFIG=${KUBECONFIG:-$("$HERE/cluster.sh" kubeconfig)}
KUBECTL=${KUBECTL:-kubectl}          # /usr/bin/kubectl (v1.32) knows --subresource; older ones fall back to curl
IMAGE=${RUNWISP_BUSYBOX_IMAGE:-localhost/busybox:1.35}
TIMEOUT=${SMOKE_TIMEOUT:-60}         # seconds per wait

SUFFIX=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS=runwisp-smoke-$SUFFIX
GROUP=s$SUFFIX.smoke.runwisp.dev
CRD=widgets.$GROUP
WORK=$(mktemp -d)
WATCH_PID=""

k() { "$KUBECTL" --request-timeout=20s "$@"; }
kn() { k -n "$NS" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.2f", a-b}'; }
say() { printf '[smoke] %s\n' "$*"; }
# inside a check: stop it with a reason
fail() { echo "    reason: $*"; exit 1; }

# wait_for DESCRIPTION CMD...: polls CMD until it succeeds or TIMEOUT passes
wait_for() {
  local what=$1 deadline
  shift
  deadline=$(($(date +%s) + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.25
  done
}
jp() { kn get "$1" "$2" -o "jsonpath=$3"; }   # KIND NAME JSONPATH
is() { [ "$(jp "$1" "$2" "$3")" = "$4" ]; }     # KIND NAME JSONPATH VALUE

# pod NAME [EXTRA_SPEC_YAML] [COMMAND_JSON]: a busybox pod the way the bed needs them (local image, short grace)
pod() {
  kn apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
$2
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  ${4:-}
  containers:
  - name: main
    image: $IMAGE
    imagePullPolicy: Never
    command: $3
EOF
}

check_namespace_ready() { wait_for "the default ServiceAccount token in $NS" sa_token_ready; }
sa_token_ready() { [ -n "$(jp serviceaccount default '{.secrets[0].name}')" ]; }

check_exit_code_and_logs() {
  pod exit3 "" '["sh", "-c", "echo hello from the smoke test; exit 3"]'
  wait_for "pod exit3 to fail" is pod exit3 '{.status.phase}' Failed
  local code logs
  code=$(jp pod exit3 '{.status.containerStatuses[0].state.terminated.exitCode}')
  [ "$code" = 3 ] || fail "exit code is '$code', want 3"
  logs=$(kn logs exit3)
  [ "$logs" = "hello from the smoke test" ] || fail "logs are '$logs'"
  echo "    exit code $code, logs '$logs'"
}

check_active_deadline() {
  pod deadline "" '["sleep", "600"]' "activeDeadlineSeconds: 3"
  # 1.20 may still report the container as running after the kill; status.reason is the truth
  wait_for "status.reason DeadlineExceeded" is pod deadline '{.status.reason}' DeadlineExceeded
  echo "    $(jp pod deadline 'phase={.status.phase} reason={.status.reason} started={.status.startTime}')"
}

check_garbage_collection() {
  local uid
  kn create configmap owner --from-literal=a=b >/dev/null
  uid=$(jp configmap owner '{.metadata.uid}')
  pod owned "  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: $uid}]" '["sleep", "3600"]'
  wait_for "pod owned to run" is pod owned '{.status.phase}' Running
  local t
  t=$(now)
  kn delete configmap owner --wait=true >/dev/null
  wait_for "the garbage collector to delete pod owned" not_found pod owned
  echo "    owner deleted -> dependent pod gone $(elapsed "$t")s later"
}
not_found() { ! kn get "$1" "$2" >/dev/null 2>&1; }

check_crd() {
  k apply -f - >/dev/null <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: $CRD}
spec:
  group: $GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {size: {type: integer}}
          status:
            type: object
            properties: {phase: {type: string}}
EOF
  wait_for "CRD $CRD Established" crd_established
  # watch first, so the creation and the status patch must arrive as events
  kn get "widgets.$GROUP" --watch --output-watch-events -o 'custom-columns=EVENT:.type,NAME:.object.metadata.name,PHASE:.object.status.phase' \
    >"$WORK/watch.out" 2>"$WORK/watch.err" &
  WATCH_PID=$!
  sleep 1
  kn apply -f - >/dev/null <<EOF
apiVersion: $GROUP/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
EOF
  [ "$(kn get "widgets.$GROUP" -o name)" = "widget.$GROUP/w1" ] || fail "list does not show w1: $(kn get "widgets.$GROUP" -o name)"
  patch_status w1 '{"status":{"phase":"Ready"}}'
  [ "$(jp "widgets.$GROUP" w1 '{.status.phase}')" = Ready ] || fail "status.phase not Ready after the status patch"
  # through the main resource, status must be ignored (that is what the status subresource means)
  kn patch "widgets.$GROUP" w1 --type=merge -p '{"spec":{"size":4},"status":{"phase":"Ignored"}}' >/dev/null
  [ "$(jp "widgets.$GROUP" w1 '{.status.phase}/{.spec.size}')" = Ready/4 ] || fail "main-resource patch changed status"
  wait_for "watch to see ADDED and MODIFIED(Ready)" watch_saw
  kill "$WATCH_PID" 2>/dev/null || true
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=""
  echo "    watch saw: $(awk 'NR > 1 {printf "%s%s %s", sep, $1, $3; sep=", "}' "$WORK/watch.out")"
}
crd_established() { [ "$(k get crd "$CRD" -o 'jsonpath={.status.conditions[?(@.type=="Established")].status}')" = True ]; }
watch_saw() { grep -q '^ADDED  *w1' "$WORK/watch.out" && grep -q '^MODIFIED  *w1  *Ready' "$WORK/watch.out"; }
patch_status() { # NAME JSON: with kubectl --subresource if it has it (>= 1.24), else straight to the API with curl
  if "$KUBECTL" patch --help 2>/dev/null | grep -q -- '--subresource'; then
    kn patch "widgets.$GROUP" "$1" --subresource=status --type=merge -p "$2" >/dev/null
  else
    local server token
    server=$(k config view --minify --raw -o 'jsonpath={.clusters[0].cluster.server}')
    token=$(k config view --minify --raw -o 'jsonpath={.users[0].user.token}')
    k config view --minify --raw -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$WORK/ca.crt"
    curl -sf --cacert "$WORK/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/merge-patch+json' \
      -X PATCH --data "$2" "$server/apis/$GROUP/v1/namespaces/$NS/widgets/$1/status" >/dev/null
  fi
}

cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
  k delete namespace "$NS" --wait=true --timeout=60s >/dev/null 2>&1 || say "WARNING: could not delete namespace $NS"
  k delete crd "$CRD" --ignore-not-found --wait=true --timeout=30s >/dev/null 2>&1 || say "WARNING: could not delete CRD $CRD"
  rm -rf "$WORK"
}
trap cleanup EXIT

FAILED=0
# run NAME FUNCTION: runs the check in a subshell with errexit, so any failing command fails just that check
run() {
  local name=$1 t rc
  t=$(now)
  set +e
  (set -e; "$2")
  rc=$?
  set -e
  if [ $rc = 0 ]; then
    say "PASS  $name ($(elapsed "$t")s)"
  else
    say "FAIL  $name ($(elapsed "$t")s)"
    # enough context to tell a broken node from a broken check
    kn get pods -o wide 2>&1 | sed 's/^/    /' || true
    kn get events --sort-by=.lastTimestamp 2>&1 | tail -n 8 | sed 's/^/    /' || true
    FAILED=$((FAILED + 1))
  fi
}

T0=$(now)
say "cluster $(k config view --minify -o 'jsonpath={.clusters[0].cluster.server}'), namespace $NS"
k get --raw /readyz >/dev/null || { say "FAIL  cluster not reachable through $KUBECONFIG"; exit 1; }
k create namespace "$NS" >/dev/null
# pods are refused until the namespace's default ServiceAccount has its token secret
run "namespace ready (default ServiceAccount token)" check_namespace_ready
run "pod exit code and logs through the apiserver" check_exit_code_and_logs
run "activeDeadlineSeconds -> DeadlineExceeded" check_active_deadline
run "garbage collection through an ownerReference" check_garbage_collection
run "CRD: register, create, list, watch, status subresource" check_crd
t=$(now)
cleanup
trap - EXIT
say "cleanup ($(elapsed "$t")s)"
if [ $FAILED = 0 ]; then
  say "all checks PASSED in $(elapsed "$T0")s"
else
  say "$FAILED check(s) FAILED ($(elapsed "$T0")s)"
  exit 1
fi
