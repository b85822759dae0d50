#!/usr/bin/env bash
# CI: real gateways under test. Installs LiteLLM (pip) and the Portkey
# gateway (npm) when they are missing, runs each example's short outage
# scenario (examples/*/outage.toml, 30 s of load), and checks summary.json:
# failover events were detected, a verdict was computed (PASS or FAIL; not
# INVALID, not a crash), and the gateway's own account of its fallbacks was
# reconciled with the providers' ledger. Afterwards no port is left bound.
#
# Usage: .ci/gateways.sh [litellm] [portkey]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

gateways=("$@")
[ ${#gateways[@]} -eq 0 ] && gateways=(litellm portkey)

install_litellm() {
    if command -v litellm >/dev/null 2>&1; then
        echo "litellm: installed at $(command -v litellm)"
    else
        python3 -m pip install --quiet 'litellm[proxy]'
    fi
    # LiteLLM refuses to start without a master key; slabench sends it as
    # the bearer token (examples/litellm/outage.toml).
    if [ -z "${LITELLM_MASTER_KEY:-}" ]; then
        LITELLM_MASTER_KEY="sk-$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        export LITELLM_MASTER_KEY
    fi
}

install_portkey() {
    if npm ls -g --depth=0 @portkey-ai/gateway >/dev/null 2>&1 \
        || [ -d examples/portkey/node_modules/@portkey-ai/gateway ]; then
        echo "portkey: @portkey-ai/gateway installed"
    else
        npm install -g --no-fund --no-audit @portkey-ai/gateway
    fi
}

cargo build --locked --quiet
slabench=target/debug/slabench
out_root="$(mktemp -d)"
trap 'rm -rf "$out_root"' EXIT

for gw in "${gateways[@]}"; do
    case "$gw" in
        litellm) install_litellm ;;
        portkey) install_portkey ;;
        *) echo "unknown gateway: $gw" >&2; exit 2 ;;
    esac
    out="$out_root/$gw"
    started=$SECONDS
    echo "::group::slabench run examples/$gw/outage.toml"
    set +e
    "$slabench" run "examples/$gw/outage.toml" --out "$out"
    code=$?
    set -e
    echo "::endgroup::"
    took=$((SECONDS - started))
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
        echo "error: $gw: slabench exited with $code (0 PASS and 1 FAIL are fine here)" >&2
        [ -f "$out/gateway.log" ] && tail -n 30 "$out/gateway.log" >&2
        exit 1
    fi
    python3 .ci/check_gateway_summary.py "$gw" "$out"
    echo "$gw: checked in ${took}s"
done
