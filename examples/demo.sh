#!/usr/bin/env bash
# Runs krun's demo: `krun --rm web` in examples/demo, against the current kube context when a
# cluster answers, otherwise against kube-sim (the simulator in e2e/) started just for it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p krun -p krun-e2e
krun=target/release/krun

if ! kubectl version --request-timeout=3s >/dev/null 2>&1; then
  echo "demo: no cluster answers on the current context; starting kube-sim on 127.0.0.1" >&2
  export KUBECONFIG
  KUBECONFIG=$(mktemp -d)/kubeconfig
  target/release/kube-sim --kubeconfig "$KUBECONFIG" &
  sim=$!
  trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -s "$KUBECONFIG" ] && break; sleep 0.1; done
fi

echo "+ krun -f examples/demo/compose.yaml --rm web $*" >&2
"$krun" -f examples/demo/compose.yaml --rm web "$@"
