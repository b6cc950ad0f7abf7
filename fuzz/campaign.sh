#!/usr/bin/env bash
# Run every fuzz target (or the ones named) to 10,000,000 executions, one after another, and
# append one summary line per target to artifacts/campaign.txt. Builds first. See the README's
# Fuzzing section. Usage: fuzz/campaign.sh [target ...]; RUNS=n sets the count.
set -euo pipefail
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(route_template last_event_id accept params ingress_yaml json_body filter sse_encoder request_head)
fi
cargo +nightly fuzz build --sanitizer none -a
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p artifacts
for target in "${targets[@]}"; do
  options=()
  case $target in
    filter | ingress_yaml) options=(-max_len=20000) ;;
    request_head) options=(-max_len=12000) ;;
  esac
  mkdir -p "corpus/$target"
  started=$(date +%s)
  status=0
  "$bin/$target" "corpus/$target" "seeds/$target" "${options[@]}" -runs="${RUNS:-10000000}" \
    -print_final_stats=1 -artifact_prefix="artifacts/$target-" >"artifacts/$target.log" 2>&1 || status=$?
  executed=$(grep -o 'stat::number_of_executed_units: [0-9]*' "artifacts/$target.log" | grep -o '[0-9]*$' || echo "?")
  echo "$(date -u +%FT%TZ) $target exit=$status executions=$executed seconds=$(($(date +%s) - started))" |
    tee -a artifacts/campaign.txt
done
