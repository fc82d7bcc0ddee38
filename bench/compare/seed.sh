#!/usr/bin/env bash
# The seed lab (playbooks/basics) as a plain bash script: the commands `invoke lab.up` runs, in
# order, as a careful shell user would write them (bench/compare.py checks they are the same).
# Set by compare.py: MINIKUBE (the minikube argv, words), PROFILE, CTX, START (minikube start
# flags, words), PORT and VPORT (free ports for the two proxies), IMAGE, plus the fake's env.
set -euo pipefail
kube=(kubectl --context "$CTX")
k() { "${kube[@]}" "$@"; }
NS=default

# setup: the cluster
$MINIKUBE version -p "$PROFILE" >/dev/null
if ! $MINIKUBE status -o json -p "$PROFILE" 2>/dev/null | grep '"APIServer": *"Running"' >/dev/null; then
  $MINIKUBE start $START -p "$PROFILE" >/dev/null
fi
. "$(dirname "$0")/lab.sh"
