"""Checks one gateway's scorecard for .ci/gateways.sh.

Usage: check_scorecard.py GATEWAY OUT_DIR EXIT_CODE

Asserts what CI relies on: the battery ran to its end (complete), every
case of `slabench scorecard --list` has a score, every criterion has a
state with its numbers, a case scored pass has each of its primary
criteria measured and passed, a case not measured says why, the exit
code matches the scores (1 any fail or partial, else 6 any not measured,
0 only when every case passed), every case links to a report that exists, and
scorecard.md and scorecard.html name every case. It does not require any
score: a gateway may fail cases; what CI checks is that the scorecard
measured and said so honestly. Prints the scores in one table.
"""

import json
import subprocess
import sys
from pathlib import Path


def fail(msg):
    print(f"error: {GATEWAY} scorecard: {msg}", file=sys.stderr)
    sys.exit(1)


GATEWAY, OUT, EXIT = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
SLABENCH = sys.argv[4] if len(sys.argv) > 4 else "target/debug/slabench"

card = json.loads((OUT / "scorecard.json").read_text())
if not card["complete"]:
    fail("the battery did not run to its end (complete = false)")

listed = subprocess.run(
    [SLABENCH, "scorecard", "--list"], capture_output=True, text=True, check=True
).stdout
names = [line.split()[0] for line in listed.splitlines() if line.strip()]
got = [c["name"] for c in card["scenarios"]]
if sorted(got) != sorted(names):
    fail(f"cases {got} differ from `scorecard --list` {names}")
if len(got) < 20:
    fail(f"only {len(got)} cases")

for c in card["scenarios"]:
    where = f"case {c['name']}"
    if c["score"] not in ("pass", "partial", "fail", "not_measured"):
        fail(f"{where}: score {c['score']!r}")
    if not c["reason"]:
        fail(f"{where}: no reason")
    if not c["criteria"]:
        fail(f"{where}: no criteria")
    for m in c["criteria"]:
        if m["state"] not in ("pass", "fail", "not_measured"):
            fail(f"{where}: {m['name']} has state {m['state']!r}")
        if not m["reason"]:
            fail(f"{where}: {m['name']} has no reason")
        if m["state"] != "not_measured" and not m["measured"]:
            fail(f"{where}: {m['name']} is {m['state']} without the numbers behind it")
        if c["score"] == "pass" and m["primary"] and m["state"] != "pass":
            fail(f"{where}: scored pass with primary {m['name']} {m['state']}")
    if c["score"] == "pass" and c.get("verdict") != "PASS":
        fail(f"{where}: scored pass on a run whose verdict is {c.get('verdict')}")
    if c["score"] == "not_measured":
        broken = ("could not be made", "could not be read", "INVALID")
        if any(b in c["reason"] for b in broken):
            fail(f"{where}: not measured because slabench could not measure: {c['reason']}")
    if not (OUT / c["report"]).is_file():
        fail(f"{where}: its report {c['report']} is missing")

scores = {c["score"] for c in card["scenarios"]}
if scores & {"fail", "partial"}:
    want = 1
elif "not_measured" in scores:
    want = 6
else:
    want = 0
if EXIT != want:
    fail(f"exit {EXIT}, but the scores say {want}")

md = (OUT / "scorecard.md").read_text()
html = (OUT / "scorecard.html").read_text()
for n in got:
    if n not in md or n not in html:
        fail(f"case {n} is missing from scorecard.md or scorecard.html")

passed = sum(c["score"] == "pass" for c in card["scenarios"])
print(f"{GATEWAY}: {passed} of {len(got)} cases pass")
for c in card["scenarios"]:
    print(f"  {c['name']:<24} {c['score']:<8} {c['reason']}")
