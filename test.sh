#!/usr/bin/env bash
# The project's test command: static checks, unit tests, then the bed smoke test and the e2e
# suite on a real local Kubernetes (brought up and torn down by e2e/with-bed.sh).
#   ./test.sh            everything
#   ./test.sh unit       fmt, clippy, unit and golden tests only (no cluster)
#   ./test.sh e2e        the e2e part only
# Set RUNWISP_USE_EXISTING_CLUSTER=1 with KUBECONFIG to run the e2e part on another cluster
# (it needs the images localhost/busybox:1.35 on its nodes, or RUNWISP_E2E_IMAGE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
what=${1:-all}
lap() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

if [ "$what" = all ] || [ "$what" = unit ]; then
  lap "cargo fmt --check"; cargo fmt --all -- --check
  lap "cargo clippy"; cargo clippy --all-targets --all-features -- -D warnings
  lap "helm (chart tests need it)"; e2e/build-k8s.sh helm
  lap "unit and golden tests"; cargo test --all-targets
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
  lap "building the operator and the e2e suite"
  cargo test --features e2e --test e2e --no-run
  lap "container image (static binary, FROM scratch, buildah)"
  image_tar=$(e2e/build-image.sh e2e | tail -n 1)
  mkdir -p target/e2e-logs
  # Then, alone: the fault tests that take the apiserver or the node down (3 trials each), and
  # the packaging test, which installs a cluster-wide operator with Helm.
  lap "bed: smoke test, the e2e suite (short reliability loops), fault tests, Helm packaging"
  RUNWISP_E2E_LOGS=$PWD/target/e2e-logs RUNWISP_IMAGE_TAR=$image_tar e2e/with-bed.sh bash -c \
    'e2e/smoke.sh && cargo test --features e2e --test e2e -- --test-threads="${RUNWISP_E2E_THREADS:-6}" \
       && RUNWISP_E2E_DISRUPTIVE=1 cargo test --features e2e --test e2e -- --test-threads=1 \
            exactly_once_across_apiserver_restarts a_node_failure_under_a_running_attempt \
       && e2e/packaging.sh'
fi
lap "done"
