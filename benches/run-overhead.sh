#!/usr/bin/env bash
# Benchmark (prints numbers, asserts nothing): krun against the kubectl way of doing the same,
# side by side, on kube-sim (127.0.0.1 only, the default) or on a real cluster (--kubeconfig).
#
#   benches/run-overhead.sh [--kubeconfig PATH] [--runs N]     (default N=10; 3 for 10 deps)
#
# Rows (release builds, runs interleaved, mean wall time):
#   no deps          krun --rm -T svc true  vs  kubectl run --rm -i --restart=Never ... true
#   10 deps, cold    krun --rm -T app true  vs  kubectl apply (10 Deployments + Services)
#                    + kubectl wait --for=condition=Available + kubectl run --rm -i
#   10 deps, running the same krun run with its dependencies already up  vs  krun's no-deps run
# and krun's own cost per no-deps run: API requests (kube-sim's request log), CPU (user+sys),
# peak RSS, and the time from process start to the first request (KRUN_TIMING); then load +
# plan of 200 and 400 services (--dry-run, KRUN_TIMING). On a real cluster the benchmark works
# in a namespace of its own and deletes it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

kubeconfig= n=10
while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig) kubeconfig=$2; shift 2;;
    --runs) n=$2; shift 2;;
    [0-9]*) n=$1; shift;;
    *) echo "usage: benches/run-overhead.sh [--kubeconfig PATH] [--runs N]" >&2; exit 2;;
  esac
done
n_deps=$(( n < 3 ? n : 3 ))

cargo build --release -q -p krun -p krun-e2e
krun=$PWD/target/release/krun
work=$(mktemp -d)
sim=
cleanup() {
  [ -n "$sim" ] && { kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true; }
  [ -n "$kubeconfig" ] && kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$kubeconfig" ]; then
  where="kube-sim"
  target/release/kube-sim --kubeconfig "$work/kubeconfig" >"$work/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done
  export KUBECONFIG=$work/kubeconfig
  ns=default
else
  where="real cluster ($(kubectl --kubeconfig "$kubeconfig" config current-context))"
  export KUBECONFIG=$kubeconfig
  ns=krun-bench-$RANDOM
  kubectl create namespace "$ns" >/dev/null
fi
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')

# The projects: one service; an app with 10 independent dependencies.
mkdir -p "$work/one" "$work/deps"
printf 'services:\n  svc: {image: busybox:1.36}\n' >"$work/one/compose.yaml"
{
  echo "services:"
  echo "  app:"
  echo "    image: busybox:1.36"
  echo "    depends_on: [$(seq -s, -f 'd%g' 1 10 | sed 's/,/, /g')]"
  for i in $(seq 10); do
    printf '  d%s:\n    image: busybox:1.36\n    command: sleep 3600\n    expose: ["80"]\n' "$i"
  done
} >"$work/deps/compose.yaml"
# The same dependencies the kubectl way.
for i in $(seq 10); do
  cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d$i}
spec:
  selector: {matchLabels: {app: d$i}}
  template:
    metadata: {labels: {app: d$i}}
    spec:
      containers: [{name: d$i, image: busybox:1.36, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: d$i}
spec:
  selector: {app: d$i}
  ports: [{port: 80}]
YAML
done >"$work/deps.yaml"

now_ms() { date +%s%3N; }
sim_requests() { curl -s "$server/kube-sim/requests" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
sim_clear() { curl -s -X DELETE "$server/kube-sim/requests" >/dev/null; }
k() { kubectl -n "$ns" "$@"; }
krun_in() { (cd "$1" && shift && "$krun" -n "$ns" "$@"); }
# Runs a command quietly and prints its wall time in ms.
timed() { local t; t=$(now_ms); "$@" </dev/null >/dev/null 2>&1; echo $(($(now_ms) - t)); }
mean() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print(round(sum(v)/len(v)))' "$@"; }

# No deps, interleaved; krun's own cost measured on the same runs.
krun_t=() kubectl_t=() req=() cpu=() rss=() first=()
for i in $(seq "$n"); do
  [ -n "$sim" ] && sim_clear
  t=$(now_ms)
  KRUN_TIMING=1 /usr/bin/time -f '%U %S %M' -o "$work/time" \
    "$krun" -n "$ns" -f "$work/one/compose.yaml" --rm -T -q svc true </dev/null >/dev/null 2>"$work/trace"
  krun_t+=($(($(now_ms) - t)))
  [ -n "$sim" ] && req+=("$(sim_requests)")
  read -r u s m <"$work/time"
  cpu+=("$(python3 -c "print(($u + $s) * 1000)")") rss+=("$m")
  first+=("$(awk '/run planned/ {print $3}' "$work/trace")")
  kubectl_t+=("$(timed k run "bench-$i" --rm -i --restart=Never --image=busybox:1.36 -- true)")
done
if [ -n "$sim" ]; then
  sim_clear
  "$krun" -f "$work/one/compose.yaml" --rm -T -q svc true </dev/null >/dev/null 2>&1
  curl -s "$server/kube-sim/requests" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print("    ", r["method"], r["path"] + ("?" + r["query"].lstrip("&") if r["query"] else ""))' >"$work/requests"
  sim_clear
  k run bench-req --rm -i --restart=Never --image=busybox:1.36 -- true </dev/null >/dev/null 2>&1
  kubectl_req=$(sim_requests)
fi

# 10 dependencies: cold (removed before each run, not timed), then already running.
cold=() kcold=() warm=()
for i in $(seq "$n_deps"); do
  krun_in "$work/deps" down >/dev/null 2>&1 || true
  k delete -f "$work/deps.yaml" --ignore-not-found --wait >/dev/null 2>&1 || true
  cold+=("$(timed krun_in "$work/deps" --rm -T -q app true)")
  warm+=("$(timed krun_in "$work/deps" --rm -T -q app true)")
  krun_in "$work/deps" down >/dev/null 2>&1 || true
  t=$(now_ms)
  k apply -f "$work/deps.yaml" >/dev/null
  k wait --for=condition=Available deployment --all --timeout=300s >/dev/null
  k run "bench-deps-$i" --rm -i --restart=Never --image=busybox:1.36 -- true </dev/null >/dev/null 2>&1
  kcold+=($(($(now_ms) - t)))
  k delete -f "$work/deps.yaml" --wait=false >/dev/null 2>&1
done

# Load + plan of generated projects (no cluster: --dry-run).
plan_ms() {
  local size=$1 dir=$work/gen$1
  mkdir -p "$dir"
  { echo "services:"
    for i in $(seq "$size"); do
      printf '  s%s:\n    image: busybox:1.36\n    environment: ["INDEX=%s", "HOST=${HOSTNAME:-x}"]\n    ports: ["%s:80"]\n' "$i" "$i" $((10000 + i))
      [ "$i" -gt 1 ] && printf '    depends_on: [s%s]\n' $((i - 1))
    done; } >"$dir/compose.yaml"
  local v=()
  for _ in 1 2 3 4 5; do
    (cd "$dir" && KRUN_TIMING=1 "$krun" --dry-run "s$size" >/dev/null 2>"$work/trace") \
      || { cat "$work/trace" >&2; exit 1; }
    v+=("$(awk '/arguments parsed/ {a=$3} /run planned/ {p=$3} END {print p - a}' "$work/trace")")
  done
  python3 -c 'import sys; print(min(float(x) for x in sys.argv[1:]))' "${v[@]}"
}
p200=$(plan_ms 200) p400=$(plan_ms 400)

ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
kr=$(mean "${krun_t[@]}") kc=$(mean "${kubectl_t[@]}")
co=$(mean "${cold[@]}") kco=$(mean "${kcold[@]}") wa=$(mean "${warm[@]}")
echo
echo "krun vs kubectl on $where, $(nproc) cores; $n runs ($n_deps with dependencies)"
printf '| %-58s | %10s | %10s | %7s |\n' "" "krun" "other" "ratio"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "------------" "------------" "---------"
printf '| %-58s | %7s ms | %7s ms | %7s |\n' "no deps, --rm: krun vs kubectl run --rm -i" "$kr" "$kc" "$(ratio "$kr" "$kc")"
if [ -n "$sim" ]; then
  printf '| %-58s | %10s | %10s | %7s |\n' "  API requests" "$(mean "${req[@]}")" "$kubectl_req" "$(ratio "$(mean "${req[@]}")" "$kubectl_req")"
fi
printf '| %-58s | %7s ms | %7s ms | %7s |\n' "10 deps cold: krun vs kubectl apply + wait + run" "$co" "$kco" "$(ratio "$co" "$kco")"
printf '| %-58s | %7s ms | %7s ms | %7s |\n' "10 deps running: krun vs krun without deps" "$wa" "$kr" "$(ratio "$wa" "$kr")"
printf '| %-58s | %7s ms | %10s | %7s |\n' "krun CPU per no-deps run (user + sys)" "$(mean "${cpu[@]}")" "" ""
printf '| %-58s | %7s MB | %10s | %7s |\n' "krun peak RSS" "$(python3 -c "print(round(max(${rss[*]/%/,}) / 1024, 1))")" "" ""
printf '| %-58s | %7s ms | %10s | %7s |\n' "krun process start to first request" "$(mean "${first[@]}")" "" ""
printf '| %-58s | %7s ms | %10s | %7s |\n' "load + plan, 200 services" "$p200" "" ""
printf '| %-58s | %7s ms | %10s | %7s |\n' "load + plan, 400 services" "$p400" "" ""
if [ -n "$sim" ]; then
  echo
  echo "krun's requests for one no-deps run:"
  cat "$work/requests"
fi
