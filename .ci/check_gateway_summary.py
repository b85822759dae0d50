"""Checks one gateway run's summary.json for .ci/gateways.sh.

Usage: check_gateway_summary.py GATEWAY RUN_DIR EXIT_CODE

Asserts what CI relies on: a computed verdict (PASS, FAIL or UNMEASURED;
not INVALID, not INTERRUPTED) that matches slabench's exit code, detected
failover events, every fault window with a state (and a why unless
measured), refused connections observed when run as root, every successful
answer checked against the ledger, the gateway's own errors and overhead
counted, Retry-After and non-retryable obedience measured, group moves
counted for LiteLLM (two deployments in its default
group), the gateway's account reconciled with the ledger
(failover.gateway_account in the gateway's dialect), the gateway's log in
the run directory, and no port of the run left bound. Prints the
reconciliation and each window's reaction, so a CI log shows what the
gateway did against what the providers saw.
"""

import json
import os
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


GATEWAY, RUN_DIR, CODE = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
summary = json.loads((RUN_DIR / "summary.json").read_text())

# A computed verdict, and the exit code slabench gives for it. UNMEASURED
# is honest (e.g. a fault window the gateway never reached); it is never 0.
EXIT_CODES = {"PASS": 0, "FAIL": 1, "UNMEASURED": 6}
verdict = summary["verdict"]
if verdict not in EXIT_CODES:
    failed = [c["name"] for c in summary["checks"] if not c["pass"]]
    fail(f"verdict {verdict}; failed checks: {failed}")
if EXIT_CODES[verdict] != CODE:
    fail(f"verdict {verdict} but exit code {CODE}")
unmeasured = [
    c for c in summary["checks"] if c["state"] != "measured" and not c.get("optional")
]
if (verdict == "UNMEASURED") != bool(unmeasured) and verdict != "FAIL":
    names = [c["name"] for c in unmeasured]
    fail(f"verdict {verdict}, required checks not measured: {names}")
if any(c["pass"] and c["state"] != "measured" for c in summary["checks"]):
    fail("a check passed that was not measured")

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

# Every fault window says what the gateway did, or why nothing can be said.
STATES = ("measured", "never", "not_exercised", "not_observable", "not_reached")
for w in f["windows"]:
    if w["state"] not in STATES:
        fail(f"{w['fault']}: state {w['state']!r}")
    if w["state"] != "measured" and not w.get("why"):
        fail(f"{w['fault']}: state {w['state']} without a why")
    if w["state"] in ("measured", "never") and w["met_fault_s"] is None:
        fail(f"{w['fault']}: {w['state']} but no time the fault was met")
    if w["errors"] + w["gateway_errors"] > w["requests"]:
        fail(f"{w['fault']}: more errors than requests: {w}")
    if sum(w["errors_by_outcome"].values()) != w["errors"]:
        fail(f"{w['fault']}: errors_by_outcome does not add up: {w}")

# Refusals are watched on loopback with a packet socket: as root they are
# observable, and the refuse windows (both examples have one) are judged.
if os.geteuid() == 0:
    c = f.get("connections")
    if not c or not c["watched"]:
        fail(f"run as root, but connection attempts were not watched: {c}")
    for w in f["windows"]:
        if "refused" in w["fault"] and w["state"] == "not_observable":
            fail(f"{w['fault']}: not observable although run as root")

# Every successful answer was checked against what its provider sent.
if f["answers_checked"] != summary["requests"]["ok"]:
    fail(f"{f['answers_checked']} answers checked of {summary['requests']['ok']} ok")
if f["answer_mismatches"] != summary["requests"]["by_outcome"]["wrong_answer"]:
    fail("answer mismatches and wrong_answer outcomes differ")
ge = summary["requests"]["gateway_errors"]
if ge["count"] != sum(m["count"] for m in ge["by_message"]):
    fail(f"gateway errors do not add up: {ge}")
o = summary.get("gateway_overhead_ms")
if not o or o["requests"] <= 0 or o["p50"] is None:
    fail(f"no gateway overhead measured: {o}")

# Did the gateway obey? The examples send Retry-After and non-retryable
# 400s: both must be judged (measured) from the ledger, whatever the verdict.
ob = summary.get("obedience")
if not ob:
    fail("no obedience analysis in summary.json")
for part in ("retry_after", "non_retryable"):
    if ob[part]["state"] != "measured":
        fail(f"obedience {part} is {ob[part]['state']}: {ob[part].get('why', '')}")

# Deployment groups: LiteLLM moves between the two deployments of its
# default group (reported as retries) and is compared between groups;
# Portkey names the loadbalance target it chose, compared between providers.
between = {"litellm": "groups", "portkey": "providers"}[GATEWAY]
if a["fallbacks_between"] != between:
    fail(f"account compared between {a['fallbacks_between']}, expected {between}")
if GATEWAY == "litellm" and f["group_moves"] <= 0:
    fail("no moves inside the default group were counted")

if not (RUN_DIR / "gateway.log").is_file():
    fail("gateway.log is missing from the run directory")
left = [p for p in ports(summary["scenario"]["file"]) if bound(p)]
if left:
    fail(f"ports still bound after the run: {left}")

print(
    f"{GATEWAY}: verdict {verdict} (exit {CODE}); {f['events']} failover events "
    f"({f['failovers']} failovers, {f['group_moves']} group moves, "
    f"{f['retries']} retries, {f['exhausted']} exhausted); "
    f"gateway says {a['gateway_fallbacks']} fallbacks / {a['gateway_retries']} retries, "
    f"ledger shows {a['ledger_fallbacks']} fallbacks / {a['ledger_attempts']} attempts; "
    f"agree on {a['agreeing']} of {a['requests']} requests, "
    f"{a['explained_by_refused_connections']} explained by refused connections, "
    f"disagreements {a['disagreements']}"
)
for c in unmeasured:
    print(f"  not measured: {c['name']}: {c['state']}: {c.get('why', '')}")
ra, nr = ob["retry_after"], ob["non_retryable"]
print(
    f"  obeyed? Retry-After: {ra['not_waited']} of {ra['answers']} answers not waited for, "
    f"{ra['violations']} early attempts; non-retryable: {nr['tried_again']} of "
    f"{nr['requests']} requests tried again ({nr['failed_over']} failed over); "
    f"rewritten errors: {ob['rewritten']['state']}"
)
print(
    f"  gateway's own errors {ge['count']}, answers checked {f['answers_checked']}, "
    f"mismatched {f['answer_mismatches']}, overhead p50 {o['p50']:.1f} ms p99 {o['p99']:.1f} ms"
)
for w in f["windows"]:
    ttf = w["time_to_failover_s"]
    ttf = "-" if ttf is None else f"{ttf:.1f}s"
    met = w["met_fault_s"]
    met = "-" if met is None else f"t={met:.1f}s"
    print(
        f"  {w['fault']}: {w['state']}, met {met}, sent into it {w['sent_into_fault']}, "
        f"time to failover {ttf}; {w['errors']} of {w['requests']} failed "
        f"{w['errors_by_outcome']}, {w['gateway_errors']} by the gateway itself"
    )
