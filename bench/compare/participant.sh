#!/usr/bin/env bash
# One workshop participant's seed lab on a shared cluster, as plain bash: provider `context`, the
# participant's own namespace (what `invoke lab.up` runs per host). Run by bench/compare.py as
#   xargs -P N -n 3 bash participant.sh   with lines "NAMESPACE PORT VPORT"
# CTX, IMAGE and KUBECONFIG come from the environment.
set -euo pipefail
NS=$1 PORT=$2 VPORT=$3
kube=(kubectl --context "$CTX" -n "$NS")
k() { "${kube[@]}" "$@"; }

# setup: the participant's namespace instead of a cluster
k get namespace "$NS" >/dev/null 2>&1 || k create namespace "$NS" >/dev/null
. "$(dirname "$0")/lab.sh"
