"""Checks one gateway run's summary.json for .ci/gateways.sh.

Usage: check_gateway_summary.py GATEWAY RUN_DIR

Asserts what CI relies on: a computed verdict (PASS or FAIL, not INVALID),
detected failover events, the gateway's account reconciled with the ledger
(failover.gateway_account in the gateway's dialect), the gateway's log in
the run directory, and no port of the run left bound. Prints the
reconciliation, so a CI log shows what the gateway said against what the
providers saw.
"""

import json
import socket
import sys
import tomllib  # Python 3.11+
from pathlib import Path


def fail(msg):
    print(f"error: {GATEWAY}: {msg}", file=sys.stderr)
    sys.exit(1)


def ports(scenario_file):
    """Loopback ports the scenario pins: the gateway's and the providers'."""
    sc = tomllib.loads(Path(scenario_file).read_text())
    found = [p["port"] for p in sc.get("providers", []) if p.get("port")]
    url = sc.get("gateway", {}).get("url", "")
    if url.rsplit(":", 1)[-1].isdigit():
        found.append(int(url.rsplit(":", 1)[-1]))
    return found


def bound(port):
    """Whether something still listens on `port` (a connection is accepted).
    Not "bindable": TIME_WAIT leftovers of a clean stop do not count."""
    with socket.socket() as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


GATEWAY, RUN_DIR = sys.argv[1], Path(sys.argv[2])
summary = json.loads((RUN_DIR / "summary.json").read_text())

verdict = summary["verdict"]
if verdict not in ("PASS", "FAIL"):
    failed = [c["name"] for c in summary["checks"] if not c["pass"]]
    fail(f"verdict {verdict}; failed checks: {failed}")

f = summary.get("failover")
if not f:
    fail("no failover analysis (no providers' ledger?)")
if f["events"] <= 0:
    fail("no failover events were detected")

a = f.get("gateway_account")
if not a:
    fail("no gateway account: the gateway's response headers were not read")
if GATEWAY not in a["dialects"]:
    fail(f"expected {GATEWAY}'s headers, read {a['dialects']}")
if a["requests"] <= 0:
    fail("no request carried the gateway's account")
if a["agreeing"] + a["explained_by_refused_connections"] > a["requests"]:
    fail(f"the reconciliation does not add up: {a}")

if not (RUN_DIR / "gateway.log").is_file():
    fail("gateway.log is missing from the run directory")
left = [p for p in ports(summary["scenario"]["file"]) if bound(p)]
if left:
    fail(f"ports still bound after the run: {left}")

print(
    f"{GATEWAY}: verdict {verdict}; {f['events']} failover events "
    f"({f['failovers']} failovers, {f['retries']} retries, {f['exhausted']} exhausted); "
    f"gateway says {a['gateway_fallbacks']} fallbacks / {a['gateway_retries']} retries, "
    f"ledger shows {a['ledger_fallbacks']} fallbacks / {a['ledger_attempts']} attempts; "
    f"agree on {a['agreeing']} of {a['requests']} requests, "
    f"{a['explained_by_refused_connections']} explained by refused connections, "
    f"disagreements {a['disagreements']}"
)
for w in f["windows"]:
    ttf = w["time_to_failover_s"]
    ttf = "never" if ttf is None else f"{ttf:.0f}s"
    print(f"  {w['fault']}: time to failover {ttf}, {w['errors']} of {w['requests']} failed")
