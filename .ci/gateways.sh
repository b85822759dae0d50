#!/usr/bin/env bash
# CI: real gateways under test. Installs the pinned LiteLLM (pip) and
# Portkey gateway (npm) versions when another (or none) is installed, runs
# each example's short outage scenario (examples/*/outage.toml, 30 s of
# load), and checks summary.json (.ci/check_gateway_summary.py): a verdict
# was computed (PASS, FAIL or UNMEASURED, with its exit code 0, 1 or 6; not
# INVALID, INTERRUPTED or a crash), failover events were detected, every
# fault window has a state, refusals were watched when run as root, every
# answer was checked, and the gateway's own account of its fallbacks was
# reconciled with the providers' ledger. Afterwards no port is left bound.
# Then each runs the scorecard's battery (scenarios/scorecard/GW.toml, 21
# cases, about 5 minutes each), checked by .ci/check_scorecard.py: run to
# its end, every case and criterion scored with its numbers, no pass on
# anything unmeasured, and the exit code matching the scores.
#
# The verdict itself is the gateway's, not CI's: LiteLLM and Portkey fail
# some of these SLAs (see the README), and a window the gateway never
# reached is honestly UNMEASURED. CI checks that slabench measured and
# reported them, not that the gateway passed.
#
# Usage: .ci/gateways.sh [--latest] [litellm] [portkey]   (default: both)
#
# The versions are pinned: a finding in the README names the version it was
# seen on, and a new gateway release must not turn CI red or green by
# itself. --latest (or SLABENCH_GATEWAYS_LATEST=1) installs the newest
# releases instead, to see what changed; the run prints the versions used.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION=1.108.7
PORTKEY_VERSION=1.15.2
latest="${SLABENCH_GATEWAYS_LATEST:-0}"
if [ "${1:-}" = "--latest" ]; then
    latest=1
    shift
fi

gateways=("$@")
[ ${#gateways[@]} -eq 0 ] && gateways=(litellm portkey)

# Both gateways go outside the clone, into folders of this user's kept
# between runs: LiteLLM in a venv, Portkey under an npm prefix of its own.
# No system pip or npm -g, so no root: GitHub's runners are not root, their
# system Python refuses pip (PEP 668), and their npm -g prefix is not the
# runner's to write.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/slabench-ci"
litellm_venv="$tools/litellm"
export NPM_CONFIG_PREFIX="$tools/npm-global"
export PATH="$litellm_venv/bin:$NPM_CONFIG_PREFIX/bin:$PATH"

installed_litellm() {
    "$litellm_venv/bin/python" -c 'from importlib.metadata import version; print(version("litellm"))' 2>/dev/null || true
}

install_litellm() {
    local want="litellm[proxy]==$LITELLM_VERSION"
    [ "$latest" = 1 ] && want='litellm[proxy]'
    if [ "$latest" = 1 ] || [ "$(installed_litellm)" != "$LITELLM_VERSION" ]; then
        [ -x "$litellm_venv/bin/python" ] || python3 -m venv "$litellm_venv"
        "$litellm_venv/bin/python" -m pip install --quiet --upgrade "$want"
    fi
    echo "litellm: $(installed_litellm) at $(command -v litellm)"
    # LiteLLM refuses to start without a master key; slabench sends it as
    # the bearer token (examples/litellm/outage.toml).
    if [ -z "${LITELLM_MASTER_KEY:-}" ]; then
        LITELLM_MASTER_KEY="sk-$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        export LITELLM_MASTER_KEY
    fi
}

installed_portkey() {
    npm ls -g --depth=0 --json @portkey-ai/gateway 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin).get("dependencies", {}).get("@portkey-ai/gateway", {}).get("version", ""))' \
        2>/dev/null || true
}

install_portkey() {
    local want="@portkey-ai/gateway@$PORTKEY_VERSION"
    [ "$latest" = 1 ] && want='@portkey-ai/gateway@latest'
    if [ "$latest" = 1 ] || [ "$(installed_portkey)" != "$PORTKEY_VERSION" ]; then
        npm install -g --no-fund --no-audit "$want"
    fi
    echo "portkey: @portkey-ai/gateway $(installed_portkey)"
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
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && [ "$code" -ne 6 ]; then
        echo "error: $gw: slabench exited with $code (0 PASS, 1 FAIL and 6 UNMEASURED are fine here)" >&2
        [ -f "$out/gateway.log" ] && tail -n 30 "$out/gateway.log" >&2
        exit 1
    fi
    python3 .ci/check_gateway_summary.py "$gw" "$out" "$code"
    echo "$gw: checked in ${took}s"

    # The scorecard's battery (21 cases, about 5 minutes): it must run to
    # its end and score honestly; a gateway may fail cases (exit 1) and a
    # case may be not measured (exit 6), never a run slabench could not make.
    card="$out_root/$gw-scorecard"
    started=$SECONDS
    echo "::group::slabench scorecard scenarios/scorecard/$gw.toml"
    set +e
    "$slabench" scorecard "scenarios/scorecard/$gw.toml" --out "$card"
    code=$?
    set -e
    echo "::endgroup::"
    took=$((SECONDS - started))
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && [ "$code" -ne 6 ]; then
        echo "error: $gw: slabench scorecard exited with $code (0 all pass, 1 some failed and 6 some not measured are fine here)" >&2
        exit 1
    fi
    python3 .ci/check_scorecard.py "$gw" "$card" "$code" "$slabench"
    echo "$gw: scorecard checked in ${took}s"
done
