#!/usr/bin/env bash
# Sharded load against one provider process, then `slabench merge`.
#
#   scripts/shards-bench.sh                    # N = 1, 2, 4; 4,000 rps in all; 600 s
#   SECS=60 RPS=8000 NS="1 2" scripts/shards-bench.sh
#   LAG=20ms scripts/shards-bench.sh          # load.max_lag_p99 (default: the scenario default)
#
# For each N: one `slabench mock` (a zero-latency provider, its ledger on)
# and N `slabench run --shard I/N --start-at T --no-providers` processes
# on this machine, all on one clock, sending RPS requests/s in all straight
# to the provider; then `slabench merge` of the N run directories with the
# mock's ledger. Prints per N: the rate held (achieved, sent, the worst
# shard's lag p99), the merged verdict, how long the merge took and its
# peak RSS. Targets (exit 1 when one is missed): the merged run counts
# exactly what the shards sent, and every N holds the rate within 1% with
# a valid generator (not INVALID). On one machine shards share its cores:
# N > 1 does not raise the ceiling here; it is what several machines do.
set -euo pipefail

SECS=${SECS:-600}
RPS=${RPS:-4000}
NS=${NS:-"1 2 4"}
PORT=${PORT:-18451}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
slabench="${CARGO_TARGET_DIR:-$root/target}/release/slabench"
echo "slabench: $("$slabench" --version)   cores: $(nproc)   ${RPS} rps for ${SECS} s"

work=$(mktemp -d)
mock_pid=
cleanup() {
    if [[ -n $mock_pid ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/zero.toml" <<EOF
name = "zero"
region = "local"
price_input_per_m = 0.1
price_output_per_m = 0.2
[ttft]
dist = "fixed"
value = "0s"
[speed]
tokens_per_s = 1000000
[output_tokens]
dist = "fixed"
value = 1
EOF
lag_line=
if [[ -n ${LAG:-} ]]; then lag_line="max_lag_p99 = \"$LAG\""; fi
cat >"$work/load.toml" <<EOF
name = "shards-bench"
seed = 5
[load]
arrival = "constant"
timeout = "10s"
drain = "5s"
$lag_line
stages = [{ hold_rpm = $((RPS * 60)), for = "${SECS}s" }]
[[traffic]]
name = "default"
weight = 1
model = "bench"
prompt_tokens = 100
max_tokens = 16
[gateway]
kind = "external"
url = "http://127.0.0.1:$PORT"
[[providers]]
name = "zero"
profile = "zero.toml"
port = $PORT
[sla]
uptime = "99.9%"
EOF

fails=()
printf '%3s | %12s %10s %13s %11s | %-10s %10s | %8s %9s\n' N "achieved rps" sent "worst lag p99" "shard exits" verdict "joined" "merge s" "merge RSS"
for n in $NS; do
    t0=$(($(date +%s) + 5))
    "$slabench" mock "$work/load.toml" --start-at "$t0" --ledger "$work/ledger-$n.bin" >"$work/mock-$n.log" 2>&1 &
    mock_pid=$!
    for _ in $(seq 100); do
        if grep -q "t=0 at" "$work/mock-$n.log" 2>/dev/null; then break; fi
        sleep 0.1
    done
    grep -q "t=0 at" "$work/mock-$n.log" || { cat "$work/mock-$n.log" >&2; exit 2; }
    pids=()
    for ((i = 0; i < n; i++)); do
        "$slabench" run "$work/load.toml" --shard "$i/$n" --start-at "$t0" --no-providers \
            --quiet --out "$work/n$n/s$i" >/dev/null 2>"$work/n$n-s$i.err" &
        pids+=($!)
    done
    codes=()
    for p in "${pids[@]}"; do
        code=0
        wait "$p" || code=$?
        codes+=("$code")
    done
    kill -TERM "$mock_pid"
    wait "$mock_pid" || true
    mock_pid=
    dirs=()
    for ((i = 0; i < n; i++)); do dirs+=("$work/n$n/s$i"); done
    /usr/bin/time -f '%e %M' -o "$work/merge-$n.time" \
        "$slabench" merge "${dirs[@]}" --ledger "$work/ledger-$n.bin" --out "$work/n$n/merged" --quiet \
        >/dev/null 2>"$work/merge-$n.err" || true
    python3 - "$work" "$n" "$RPS" "${codes[*]}" <<'EOF' || fails+=("N=$n")
import json, sys
work, n, rps, codes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
secs, rss = open(f"{work}/merge-{n}.time").read().split()[-2:]
try:
    m = json.load(open(f"{work}/n{n}/merged/summary.json"))
except Exception as e:
    print(f"{n:>3} | merge wrote no summary: {open(f'{work}/merge-{n}.err').read().strip()[:300]}")
    sys.exit(1)
shards = [json.load(open(f"{work}/n{n}/s{i}/summary.json")) for i in range(n)]
g = m["generator"]
sent = sum(s["generator"]["sent"] for s in shards)
lag = max(s["generator"]["lag_ms"]["p99"] for s in shards)
achieved = g["achieved_rpm"] / 60
joined = (m.get("failover") or {}).get("attempts")
print(f"{n:>3} | {achieved:>12,.1f} {g['sent']:>10,} {lag:>10.2f} ms {codes:>11} | {m['verdict']:<10} {joined if joined is not None else '-':>10} | "
      f"{float(secs):>8.2f} {int(rss) / 1024:>6.0f} MB")
bad = []
if g["sent"] != sent:
    bad.append(f"merged sent {g['sent']} != the shards' {sent}")
if abs(achieved / rps - 1) > 0.01:
    bad.append(f"achieved {achieved:,.1f} rps, not within 1% of {rps:,.0f}")
if joined is None or joined < sent:
    bad.append(f"the ledger join holds {joined} attempts for {sent} requests")
if m["verdict"] == "INVALID":
    bad.append("the merged run is INVALID")
for b in bad:
    print(f"    FAIL: N={n}: {b}")
sys.exit(1 if bad else 0)
EOF
done
if ((${#fails[@]})); then
    echo "FAIL: ${fails[*]} missed a target"
    exit 1
fi
echo "all targets met"
