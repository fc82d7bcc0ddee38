# The seed lab's kubectl and curl steps after the cluster is there (playbooks/basics), sourced
# by seed.sh (minikube, namespace `default`) and participant.sh (a namespace on a shared
# cluster). The caller sets kube (the kubectl argv with its --context [-n]), defines k() (runs
# it) and sets NS, PORT, VPORT, IMAGE.
proxies=()
trap 'for p in "${proxies[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
start_proxy() {  # kubectl proxy on the port in variable $1, in the background, until it answers
  # a simple command, not the function k: `$!` is then kubectl itself, and the trap's kill ends
  # it (a backgrounded function is a subshell, and killing it leaves kubectl running). A proxy
  # that exits (its port taken meanwhile) is started again on the next port (5 tries), and the
  # script stops with a message rather than waiting for it forever.
  local var=$1 port=${!1} tries=0 pid
  while :; do
    "${kube[@]}" proxy --port="$port" >/dev/null 2>&1 &
    pid=$!
    proxies+=("$pid")
    until curl -sf --max-time 2 "http://127.0.0.1:$port/version" >/dev/null; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
      printf -v "$var" %s "$port"
      return 0
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then echo "kubectl proxy did not start on port $port" >&2; return 1; fi
    port=$((port + 1))
  done
}

# `grep PATTERN >/dev/null`, not `grep -q`: under pipefail, grep -q's early exit can end the writer
# with SIGPIPE (exit 141) and fail a check that matched (a script lost that way at high load)

# setup, after the cluster (or the namespace) is there
k version >/dev/null
k cluster-info >/dev/null
k wait --for=condition=Ready nodes --all --timeout=300s >/dev/null
k get nodes >/dev/null

# deploy
if ! out=$(k create deployment kubernetes-bootcamp --image="$IMAGE" 2>&1); then
  grep -q 'already exists' <<<"$out"
fi
k wait --for=condition=Available deployment/kubernetes-bootcamp --timeout=300s >/dev/null
k get deployments >/dev/null

# explore
start_proxy PORT
curl -sS --fail "http://localhost:$PORT/version" >/dev/null
k get pods >/dev/null
k describe pods >/dev/null
until POD_NAME=$(k get pods -l app=kubernetes-bootcamp -o go-template --template '{{range .items}}{{.metadata.name}}{{"\n"}}{{end}}') \
  && [ "$(wc -l <<<"$POD_NAME")" -eq 1 ]; do sleep 2; done
k logs "$POD_NAME" >/dev/null
k exec "$POD_NAME" -- env >/dev/null
until k exec "$POD_NAME" -- curl -s localhost:8080 | grep 'Hello Kubernetes bootcamp!' >/dev/null; do sleep 1; done
until curl -sS --fail "http://localhost:$PORT/api/v1/namespaces/$NS/pods/$POD_NAME:8080/proxy/" \
  | grep 'Hello Kubernetes bootcamp!' >/dev/null; do sleep 1; done

# verify: the checks' own calls (playbooks/basics/checks), asserted with grep
start_proxy VPORT
state=$(k get nodes,deployments,replicasets,pods,services,endpoints -o jsonpath='{range .items[*]}{.kind}|{.metadata.name}|{.metadata.uid}|{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Available")].status}|{.spec.replicas}/{.status.availableReplicas}|{.spec.template.spec.containers[*].image}|{.status.phase}{"\n"}{end}')
grep -q '^Node|[^|]*|[^|]*|True|' <<<"$state"
grep -q "^Deployment|kubernetes-bootcamp|[^|]*||True|1/1|$IMAGE|" <<<"$state"
[ "$(grep -c '^Pod|kubernetes-bootcamp-[^|]*|[^|]*|True|.*|Running$' <<<"$state")" -eq 1 ]
k exec "$POD_NAME" -- cat /proc/net/tcp /proc/net/tcp6 | grep ':1F90 [0-9A-F:]* 0A ' >/dev/null
[ "$(k exec "$POD_NAME" -- curl -s localhost:8080)" = "Hello Kubernetes bootcamp! | Running on: $POD_NAME | v=1" ]
curl -sS --fail "http://127.0.0.1:$VPORT/version" | grep '"gitVersion": *"v' >/dev/null
# the proxy reaches this cluster: its node is the snapshot's (a uid is given once, by its cluster)
node_uid=$(grep '^Node|' <<<"$state" | cut -d'|' -f3)
curl -sS --fail "http://127.0.0.1:$VPORT/api/v1/nodes" | grep "\"uid\": *\"$node_uid\"" >/dev/null
