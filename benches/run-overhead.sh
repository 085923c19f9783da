#!/usr/bin/env bash
# Benchmark (prints numbers, asserts nothing): krun's overhead for a one-off run against
# `kubectl run --rm -i --restart=Never`, same image and command, on kube-sim (127.0.0.1 only).
# Prints the mean wall time of each over N runs (interleaved) and the API requests each made.
#   benches/run-overhead.sh [N]      (default N=10)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
cargo build --release -q -p krun -p krun-e2e
work=$(mktemp -d)
trap 'kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null; rm -rf "$work"' EXIT
target/release/kube-sim --kubeconfig "$work/kubeconfig" >"$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done
export KUBECONFIG=$work/kubeconfig
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
printf 'services:\n  svc: {image: busybox:1.36}\n' >"$work/compose.yaml"

now_ms() { date +%s%3N; }
requests() { curl -s "$server/kube-sim/requests" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
clear_log() { curl -s -X DELETE "$server/kube-sim/requests" >/dev/null; }

krun_ms=0; kubectl_ms=0; krun_req=0; kubectl_req=0
for i in $(seq "$n"); do
  clear_log; t=$(now_ms)
  target/release/krun -f "$work/compose.yaml" --rm -T -q svc true </dev/null
  krun_ms=$((krun_ms + $(now_ms) - t)); krun_req=$((krun_req + $(requests)))
  clear_log; t=$(now_ms)
  kubectl run "bench-$i" --rm -i --restart=Never --image=busybox:1.36 -- true </dev/null >/dev/null 2>&1
  kubectl_ms=$((kubectl_ms + $(now_ms) - t)); kubectl_req=$((kubectl_req + $(requests)))
done
printf '%-44s %8s %10s\n' "over $n runs" "mean ms" "requests"
printf '%-44s %8d %10d\n' "krun --rm -T svc true" $((krun_ms / n)) $((krun_req / n))
printf '%-44s %8d %10d\n' "kubectl run --rm -i --restart=Never ... true" $((kubectl_ms / n)) $((kubectl_req / n))
