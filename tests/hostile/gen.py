#!/usr/bin/env python3
"""Writes the hostile-input corpus (tests/hostile/{reject,accept,profiles}).

Each reject file starts with `# expect: <text>`: the field (as printed in
the error line) that `slabench validate` must name. Re-run after editing:
    python3 tests/hostile/gen.py
"""
import os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
FLASH = '"../../../mock-providers/deepseek-v4-flash.toml"'
QWEN = '"../../../mock-providers/qwen3-32b.toml"'

LOAD = '[load]\nstages = [{ hold_rpm = 60, for = "2s" }]\n'
TRAFFIC = '[[traffic]]\nmodel = "default"\n'
PROV = f'[[providers]]\nname = "flash"\nprofile = {FLASH}\n'
PROV2 = f'[[providers]]\nname = "qwen"\nprofile = {QWEN}\n'
BASE = LOAD + TRAFFIC + PROV

def stages(s):
    return f'[load]\nstages = [{s}]\n' + TRAFFIC + PROV

def load(extra):
    return LOAD + extra + TRAFFIC + PROV

def traffic(extra, model='"default"'):
    return LOAD + f'[[traffic]]\nmodel = {model}\n' + extra + PROV

def fault(body):
    return BASE + '[[faults]]\nprovider = "flash"\n' + body

def gw(body):
    return LOAD + TRAFFIC + PROV + '[gateway]\n' + body

def ext(body):
    return LOAD + TRAFFIC + '[gateway]\nurl = "http://127.0.0.1:4999"\n' + body

def profile_ref(name):
    return LOAD + TRAFFIC + f'[[providers]]\nname = "p"\nprofile = "../profiles/{name}.toml"\n'

GOOD_PROFILE = '''region = "us-east"
price_input_per_m = 0.07
price_output_per_m = 0.25
[ttft]
dist = "fixed"
value = "10ms"
[speed]
tokens_per_s = 1000
[output_tokens]
dist = "fixed"
value = 4
'''

REJECT = {
    # --- syntax, types, unknown keys
    "toml-syntax": ("invalid TOML", LOAD + '[[traffic]]\nmodel = "default\n' + PROV),
    "unknown-top-key": ("unknown key `durations` at the top level", 'durations = 1\n' + BASE),
    "unknown-stage-key": ("unknown key `hold_rmp` in load.stages[0]", stages('{ hold_rmp = 60, for = "2s" }')),
    "unknown-traffic-key": ("unknown key `tokens` in traffic[0]", traffic('tokens = 5\n')),
    "unknown-fault-key": ("unknown key `severity` in faults[0]", fault('kind = "stream_cut"\nseverity = 3\n')),
    "unknown-sla-key": ("unknown key `p98` in sla", BASE + '[sla]\np98 = "1s"\n'),
    "unknown-gateway-key": ("unknown key `retry` in gateway", gw('retry = 1\n')),
    "unknown-breaker-key": ("unknown key `cooloff` in gateway.breaker", gw('[gateway.breaker]\ncooloff = "1s"\n')),
    "wrong-type-rpm": ("load.stages[0].hold_rpm", stages('{ hold_rpm = "fast", for = "2s" }')),
    "wrong-type-stream": ("traffic[0].stream", traffic('stream = "yes"\n')),
    "wrong-type-duration-number": ("load.timeout", load('timeout = 30\n')),
    "wrong-type-traffic-table": ("traffic", LOAD + 'traffic = 5\n' + PROV),
    "wrong-type-seed-negative": ("seed", 'seed = -1\n' + BASE),
    "wrong-type-port-float": ("providers[0].port", BASE + 'port = 1.5\n'),
    # --- numbers TOML itself refuses
    "float-1e309": ("load.stages[0].hold_rpm", stages('{ hold_rpm = 1e309, for = "2s" }')),
    "int-beyond-i64": ("traffic[0].prompt_tokens", traffic('prompt_tokens = 9223372036854775808\n')),
    "seed-beyond-i64": ("seed", 'seed = 99999999999999999999\n' + BASE),
    "float-1e309-in-fault": ("faults[0].multiplier", fault('kind = "latency_spike"\nmultiplier = 1e309\n')),
    # --- rates
    "hold-rpm-negative": ("load.stages[0].hold_rpm", stages('{ hold_rpm = -5, for = "2s" }')),
    "hold-rpm-zero": ("load.stages[0].hold_rpm", stages('{ hold_rpm = 0, for = "2s" }')),
    "hold-rpm-nan": ("load.stages[0].hold_rpm", stages('{ hold_rpm = nan, for = "2s" }')),
    "hold-rpm-inf": ("load.stages[0].hold_rpm", stages('{ hold_rpm = inf, for = "2s" }')),
    "hold-rpm-1e9": ("load.stages[1].hold_rpm", stages('{ hold_rpm = 60, for = "2s" }, { hold_rpm = 1e9, for = "2s" }')),
    "ramp-rpm-huge": ("load.stages[0].ramp_to_rpm", stages('{ ramp_to_rpm = 10000001, over = "2s" }')),
    "from-rpm-negative-inf": ("load.stages[0].from_rpm", stages('{ ramp_to_rpm = 10, from_rpm = -inf, over = "2s" }')),
    "all-stages-zero": ("load.stages", stages('{ ramp_to_rpm = 0, over = "2s" }')),
    "rate-tiny": ("load.stages", stages('{ hold_rpm = 1e-300, for = "5s" }')),
    "under-one-request": ("load.stages", stages('{ hold_rpm = 1, for = "10s" }, { ramp_to_rpm = 0, from_rpm = 0.5, over = "30s" }')),
    "stages-empty": ("load.stages", '[load]\nstages = []\n' + TRAFFIC + PROV),
    "stages-missing": ("load.stages", TRAFFIC + PROV),
    "stage-both-kinds": ("load.stages[0].ramp_to_rpm", stages('{ hold_rpm = 5, ramp_to_rpm = 5, for = "2s" }')),
    "stage-neither": ("load.stages[0]", stages('{ for = "2s" }')),
    "too-many-requests": ("load.stages", stages('{ hold_rpm = 10000000, for = "1d" }')),
    "rate-limit-fault-rpm-huge": ("faults[0].rpm", fault('kind = "rate_limit"\nrpm = 1e12\n')),
    "rate-limit-fault-rpm-zero": ("faults[0].rpm", fault('kind = "rate_limit"\nrpm = 0\n')),
    # --- durations
    "duration-repeated-unit": ("load.stages[0].for", stages('{ hold_rpm = 60, for = "1h1h" }')),
    "duration-out-of-order": ("load.stages[0].for", stages('{ hold_rpm = 60, for = "30s1m" }')),
    "duration-no-unit": ("load.stages[0].over", stages('{ ramp_to_rpm = 60, over = "30" }')),
    "duration-negative": ("load.timeout", load('timeout = "-5s"\n')),
    "duration-exponent": ("load.drain", load('drain = "1e3s"\n')),
    "duration-empty": ("load.max_lag_p99", load('max_lag_p99 = ""\n')),
    "duration-zero-timeout": ("load.timeout", load('timeout = "0s"\n')),
    "duration-huge-timeout": ("load.timeout", load('timeout = "10000000000000000000s"\n')),
    "duration-8-days": ("load.drain", load('drain = "8d"\n')),
    "duration-overflow-digits": ("load.stages[0].for", stages('{ hold_rpm = 60, for = "99999999999999999999999999h" }')),
    "stages-overflow-sum": ("load.stages[1].for", stages('{ hold_rpm = 1, for = "5d" }, { hold_rpm = 1, for = "5d" }')),
    "ready-timeout-huge": ("gateway.ready_timeout", ext('command = ["sh", "-c", "sleep 1"]\nready_timeout = "18446744073709551615s"\n')),
    "cool-off-huge": ("gateway.breaker.cool_off", gw('[gateway.breaker]\ncool_off = "300000h"\n')),
    "attempt-timeout-zero": ("gateway.policy.attempt_timeout", gw('[gateway.policy]\nattempt_timeout = "0ms"\n')),
    "max-retry-wait-garbage": ("gateway.policy.max_retry_wait", gw('[gateway.policy]\nmax_retry_wait = "soon"\n')),
    "slow-first-token-huge": ("faults[0].delay", fault('kind = "slow_first_token"\ndelay = "1000000000h"\n')),
    "latency-add-huge": ("faults[0].add", fault('kind = "latency_spike"\nadd = "100000d"\n')),
    "stall-pause-zero": ("faults[0].pause", fault('kind = "stream_stall"\npause = "0s"\n')),
    "fault-start-after-end": ("faults[0].start", fault('kind = "stream_cut"\nstart = "1m"\n')),
    "fault-duration-zero": ("faults[0].duration", fault('kind = "stream_cut"\nduration = "0s"\n')),
    "sla-p99-below-p50": ("sla.p99", BASE + '[sla]\np50 = "2s"\np99 = "1s"\n'),
    "class-sla-bad": ("traffic[0].sla.p95", traffic('[traffic.sla]\np95 = "fast"\n')),
    "gate-floor-huge": ("gate.floor", BASE + '[gate]\nfloor = "30d"\n'),
    "time-to-failover-zero": ("sla.max_time_to_failover", BASE + '[sla]\nmax_time_to_failover = "0s"\n'),
    # --- multipliers, ratios, other numbers
    "multiplier-1e300": ("faults[0].multiplier", fault('kind = "latency_spike"\nmultiplier = 1e300\n')),
    "multiplier-zero": ("faults[0].multiplier", fault('kind = "latency_spike"\nmultiplier = 0\n')),
    "multiplier-nan": ("faults[0].multiplier", fault('kind = "latency_spike"\nmultiplier = nan\n')),
    "latency-spike-noop": ("faults[0]", fault('kind = "latency_spike"\n')),
    "probability-above-one": ("faults[0].probability", fault('kind = "stream_cut"\nprobability = 1.5\n')),
    "probability-nan-percent": ("faults[0].probability", fault('kind = "stream_cut"\nprobability = "nan%"\n')),
    "uptime-zero": ("sla.uptime", BASE + '[sla]\nuptime = 0\n'),
    "uptime-inf-percent": ("sla.uptime", BASE + '[sla]\nuptime = "inf%"\n'),
    "uptime-not-percent": ("sla.uptime", BASE + '[sla]\nuptime = "99.9"\n'),
    "amplification-below-one": ("sla.max_amplification", BASE + '[sla]\nmax_amplification = 0.5\n'),
    "amplification-huge": ("sla.max_amplification", BASE + '[sla]\nmax_amplification = 1e300\n'),
    "sla-optional-unknown": ("sla.optional[1]", BASE + '[sla]\nmax_time_to_failover = "5s"\noptional = ["uptime", "time_to_faiover"]\n'),
    "sla-optional-not-a-list": ("sla.optional", BASE + '[sla]\noptional = "time_to_failover"\n'),
    "sla-optional-not-a-name": ("sla.optional", BASE + '[sla]\noptional = [5]\n'),
    "tolerance-negative": ("gate.tolerance", BASE + '[gate]\ntolerance = "-5%"\n'),
    "tolerance-huge": ("gate.tolerance", BASE + '[gate]\ntolerance = 1e20\n'),
    "weights-overflow": ("traffic[0].weight", LOAD + '[[traffic]]\nname = "a"\nmodel = "default"\nweight = 1.7e308\n[[traffic]]\nname = "b"\nmodel = "default"\nweight = 1.7e308\n' + PROV),
    "weight-zero": ("traffic[0].weight", traffic('weight = 0\n')),
    "weight-negative": ("traffic[0].weight", traffic('weight = -1\n')),
    "prompt-tokens-4e9": ("traffic[0].prompt_tokens", traffic('prompt_tokens = 4294967295\n')),
    "prompt-tokens-negative": ("traffic[0].prompt_tokens", traffic('prompt_tokens = -1\n')),
    "max-tokens-zero": ("traffic[0].max_tokens", traffic('max_tokens = 0\n')),
    "max-tokens-huge": ("traffic[0].max_tokens", traffic('max_tokens = 2000000\n')),
    "max-in-flight-zero": ("load.max_in_flight", load('max_in_flight = 0\n')),
    "max-in-flight-huge": ("load.max_in_flight", load('max_in_flight = 9223372036854775807\n')),
    "retries-huge": ("gateway.policy.retries", gw('[gateway.policy]\nretries = 1000\n')),
    "breaker-probes-zero": ("gateway.breaker.half_open_probes", gw('[gateway.breaker]\nhalf_open_probes = 0\n')),
    "breaker-failure-rate-two": ("gateway.breaker.failure_rate", gw('[gateway.breaker]\nfailure_rate = 2\n')),
    "breaker-min-requests-negative": ("gateway.breaker.min_requests", gw('[gateway.breaker]\nmin_requests = -3\n')),
    "provider-port-too-big": ("providers[0].port", BASE + 'port = 65536\n'),
    "gateway-port-negative": ("gateway.port", gw('port = -1\n')),
    "status-not-5xx": ("faults[0].status", fault('kind = "outage"\nstatus = 404\n')),
    "status-huge": ("faults[0].status", fault('kind = "error_burst"\nstatus = 9223372036854775807\n')),
    # --- enums
    "enum-arrival": ("load.arrival", load('arrival = "poison"\n')),
    "enum-kind": ("faults[0].kind", fault('kind = "meltdown"\n')),
    "enum-outage-as": ("faults[0].as", fault('kind = "outage"\nas = "explode"\n')),
    "enum-malformed-what": ("faults[0].what", fault('kind = "malformed"\nwhat = "garbage"\n')),
    "enum-failover-on": ("gateway.policy.failover_on[1]", gw('[gateway.policy]\nfailover_on = ["5xx", "4xx"]\n')),
    "enum-gateway-kind": ("gateway.kind", gw('kind = "cloud"\n')),
    "fault-kind-missing": ("faults[0].kind", fault('start = "1s"\n')),
    "fault-key-of-other-kind": ("faults[0].status", fault('kind = "stream_cut"\nstatus = 503\n')),
    "refuse-partial": ("faults[0].probability", fault('kind = "outage"\nas = "refuse"\nprobability = 0.5\n')),
    "malformed-without-what": ("faults[0].what", fault('kind = "malformed"\n')),
    # --- names
    "name-escape": ("name", 'name = "peak\\u001b[31mRED"\n' + BASE),
    "name-raw-escape": ("name", 'name = "peak\x1b[31m"\n' + BASE),
    "name-newline": ("name", 'name = "two\\nlines"\n' + BASE),
    "name-bidi-override": ("name", 'name = "abc\\u202Edef"\n' + BASE),
    "name-300-chars": ("name", 'name = "' + 'x' * 300 + '"\n' + BASE),
    "name-blank": ("name", 'name = "   "\n' + BASE),
    "description-escape": ("description", 'description = "hi\\u001b]0;pwned\\u0007"\n' + BASE),
    "class-name-control": ("traffic[0].name", traffic('name = "chat\\u0000"\n')),
    "class-name-long": ("traffic[0].name", traffic('name = "' + 'c' * 101 + '"\n')),
    "model-escape": ("traffic[0].model", traffic('', model='"default\\u001b[2J"')),
    "model-empty": ("traffic[0].model", traffic('', model='""')),
    "class-duplicate": ("traffic[1].model", LOAD + TRAFFIC + TRAFFIC + PROV),
    "provider-name-space": ("providers[0].name", LOAD + TRAFFIC + f'[[providers]]\nname = "my flash"\nprofile = {FLASH}\n'),
    "provider-name-comma": ("providers[0].name", LOAD + TRAFFIC + f'[[providers]]\nname = "a,b"\nprofile = {FLASH}\n'),
    "provider-name-colon": ("providers[0].name", LOAD + TRAFFIC + f'[[providers]]\nname = "a:b"\nprofile = {FLASH}\n'),
    "provider-name-emoji": ("providers[0].name", LOAD + TRAFFIC + f'[[providers]]\nname = "flash🚀"\nprofile = {FLASH}\n'),
    "provider-name-long": ("providers[0].name", LOAD + TRAFFIC + f'[[providers]]\nname = "{"p" * 65}"\nprofile = {FLASH}\n'),
    "provider-duplicate": ("providers[1].name", BASE + PROV),
    "provider-port-duplicate": ("providers[1].port", LOAD + TRAFFIC + PROV + 'port = 19001\n' + PROV2 + 'port = 19001\n'),
    "provider-profile-missing": ("providers[0].profile", LOAD + TRAFFIC + '[[providers]]\nprofile = "no-such-profile"\n'),
    "provider-group-empty": ("providers[0].group", BASE + 'group = ""\n'),
    "provider-group-blank": ("providers[0].group", BASE + 'group = "   "\n'),
    "provider-group-control": ("providers[0].group", BASE + 'group = "de\\u001b[31mfault"\n'),
    "provider-group-long": ("providers[0].group", BASE + f'group = "{"g" * 65}"\n'),
    "provider-group-number": ("providers[0].group", BASE + 'group = 5\n'),
    "provider-profile-slash": ("providers[0].profile", LOAD + TRAFFIC + '[[providers]]\nprofile = "a/b"\n'),
    "route-missing-provider": ("gateway.routes.default[0]", gw('[gateway.routes]\ndefault = ["nobody"]\n')),
    "route-empty": ("gateway.routes.default", gw('[gateway.routes]\ndefault = []\n')),
    "route-twice": ("gateway.routes.default[1]", gw('[gateway.routes]\ndefault = ["flash", "flash"]\n')),
    "route-key-control": ('gateway.routes', gw('[gateway.routes]\ndefault = ["flash"]\n"odd\\u0007" = ["flash"]\n')),
    "model-without-route": ("traffic[0].model", gw('[gateway.routes]\nother = ["flash"]\n')),
    "fault-missing-provider": ("faults[0].provider", BASE + '[[faults]]\nprovider = "nobody"\nkind = "stream_cut"\n'),
    "fault-missing-region": ("faults[0].region", BASE + '[[faults]]\nregion = "mars-1"\nkind = "stream_cut"\n'),
    "fault-both-targets": ("faults[0].region", BASE + '[[faults]]\nprovider = "flash"\nregion = "us-east"\nkind = "stream_cut"\n'),
    "fault-no-target": ("faults[0]", BASE + '[[faults]]\nkind = "stream_cut"\n'),
    "nothing-to-test": ("gateway", LOAD + TRAFFIC),
    "traffic-missing": ("traffic", LOAD + PROV),
    "too-many-classes": ("traffic[100]", LOAD + ''.join(f'[[traffic]]\nname = "c{i}"\nmodel = "default"\n' for i in range(101)) + PROV),
    "too-many-providers": ("providers[100]", LOAD + TRAFFIC + ''.join(f'[[providers]]\nname = "p{i}"\nprofile = {FLASH}\n' for i in range(101))),
    # --- external gateway
    "ext-url-non-loopback": ("gateway.url", LOAD + TRAFFIC + '[gateway]\nurl = "http://example.com:4000"\n'),
    "ext-url-bad-scheme": ("gateway.url", LOAD + TRAFFIC + '[gateway]\nurl = "ftp://127.0.0.1"\n'),
    "ext-url-with-v1": ("gateway.url", LOAD + TRAFFIC + '[gateway]\nurl = "http://127.0.0.1:4000/v1"\n'),
    "ext-url-control": ("gateway.url", LOAD + TRAFFIC + '[gateway]\nurl = "http://127.0.0.1:4000/\\u001b"\n'),
    "ext-ready-url-non-loopback": ("gateway.ready_url", ext('command = ["sh", "-c", "sleep 1"]\nready_url = "http://10.1.2.3/health"\n')),
    "ext-env-missing-var": ("gateway.headers.Authorization", ext('headers = { Authorization = "Bearer ${SLABENCH_HOSTILE_UNSET_VAR}" }\n')),
    "ext-env-bad-var-name": ("gateway.headers.X-Key", ext('headers = { X-Key = "${1BAD}" }\n')),
    "ext-env-unterminated": ("gateway.url", LOAD + TRAFFIC + '[gateway]\nurl = "http://127.0.0.1:${PORT"\n'),
    "ext-header-name-bad": ('gateway.headers."bad header"', ext('headers = { "bad header" = "x" }\n')),
    "ext-header-value-newline": ("gateway.headers.X-A", ext('headers = { X-A = "a\\nb" }\n')),
    "ext-command-missing-program": ("gateway.command[0]", ext('command = ["slabench-hostile-no-such-gateway", "--port", "4999"]\n')),
    "ext-command-missing-path": ("gateway.command[0]", ext('command = ["./no-such-dir/gateway"]\n')),
    "ext-command-nul": ("gateway.command[1]", ext('command = ["sh", "a\\u0000b"]\n')),
    "ext-command-empty": ("gateway.command", ext('command = []\n')),
    "ext-env-nul": ("gateway.env.X", ext('command = ["sh"]\nenv = { X = "a\\u0000b" }\n')),
    "ext-env-name-equals": ('gateway.env."A=B"', ext('command = ["sh"]\nenv = { "A=B" = "1" }\n')),
    "ext-cwd-missing": ("gateway.cwd", ext('command = ["sh"]\ncwd = "no-such-folder"\n')),
    "ext-cwd-nul": ("gateway.cwd", ext('command = ["sh"]\ncwd = "a\\u0000"\n')),
    "ext-env-without-command": ("gateway.env", ext('env = { A = "1" }\n')),
    "ext-builtin-key": ("gateway.routes", ext('[gateway.routes]\ndefault = ["x"]\n')),
    "builtin-external-key": ("gateway.url", gw('kind = "builtin"\nurl = "http://127.0.0.1:1"\n')),
    "gateway-port-clash": ("gateway.port", LOAD + TRAFFIC + PROV + 'port = 19002\n[gateway]\nport = 19002\n'),
}

# Profile errors: the error names the profile file, not the scenario.
PROFILES = {
    "huge-p99": ("ttft.p99", GOOD_PROFILE.replace('dist = "fixed"\nvalue = "10ms"', 'dist = "lognormal"\np50 = "1s"\np99 = "9000000000000000000s"')),
    "cap-below-p99": ("ttft.cap", GOOD_PROFILE.replace('dist = "fixed"\nvalue = "10ms"', 'dist = "lognormal"\np50 = "1s"\np99 = "2s"\ncap = "1s"')),
    "speed-zero": ("speed.tokens_per_s", GOOD_PROFILE.replace('tokens_per_s = 1000', 'tokens_per_s = 1e-300')),
    "speed-huge": ("speed.tokens_per_s", GOOD_PROFILE.replace('tokens_per_s = 1000', 'tokens_per_s = 1e300')),
    "jitter-one": ("speed.jitter", GOOD_PROFILE.replace('tokens_per_s = 1000', 'tokens_per_s = 1000\njitter = 1')),
    "price-inf": ("price_input_per_m", GOOD_PROFILE.replace('price_input_per_m = 0.07', 'price_input_per_m = inf')),
    "price-huge": ("price_output_per_m", GOOD_PROFILE.replace('price_output_per_m = 0.25', 'price_output_per_m = 1e300')),
    "rate-limit-huge": ("rate_limit.rpm", GOOD_PROFILE + '[rate_limit]\nrpm = 1e15\n'),
    "burst-zero": ("rate_limit.burst", GOOD_PROFILE + '[rate_limit]\nrpm = 60\nburst = 0.5\n'),
    "region-escape": ("region", GOOD_PROFILE.replace('region = "us-east"', 'region = "us\\u001b[1m"')),
    "model-newline": ("model", 'model = "a\\nb"\n' + GOOD_PROFILE),
    "errors-status": ("errors.status", GOOD_PROFILE + '[errors]\nstatus = 200\n'),
    "output-tokens-zero": ("output_tokens.value", GOOD_PROFILE.replace('value = 4', 'value = 0')),
    "chunk-tokens-huge": ("stream_chunk_tokens", 'stream_chunk_tokens = 100000\n' + GOOD_PROFILE),
    "uniform-swapped": ("ttft.max", GOOD_PROFILE.replace('dist = "fixed"\nvalue = "10ms"', 'dist = "uniform"\nmin = "2s"\nmax = "1s"')),
}

ACCEPT = {
    "unicode-names": 'name = "Spitze 峰 🚀 ünïcødé"\ndescription = "multi\\nline\\twith tabs"\n' + LOAD + '[[traffic]]\nname = "чат 💬"\nmodel = "модель/gpt-4o"\n' + PROV,
    "weird-whitespace": '\n\n   name   =   "ws"   \n[load]\n  stages = [\n\t{ hold_rpm = 60 , for = "  2s  " } ,\n]\n' + TRAFFIC + PROV,
    "durations-long-units": '[load]\ntimeout = "2 minutes"\ndrain = "1m 30s"\nmax_lag_p99 = "1500us"\nstages = [{ hold_rpm = 60, for = "1d2h3m4.5s" }]\n' + TRAFFIC + PROV,
    "max-duration": '[load]\ntimeout = "7d"\nstages = [{ hold_rpm = 0.001, for = "7d" }]\n' + TRAFFIC + PROV,
    "max-rpm": stages('{ hold_rpm = 10000000, for = "1s" }'),
    "tiny-rpm": stages('{ hold_rpm = 1e-300, for = "1s" }, { hold_rpm = 60, for = "1s" }'),
    "extreme-weights": LOAD + '[[traffic]]\nname = "a"\nmodel = "default"\nweight = 1e9\n[[traffic]]\nname = "b"\nmodel = "default"\nweight = 1e-300\n' + PROV,
    "max-tokens-cap": traffic('prompt_tokens = 1000000\nmax_tokens = 1000000\n'),
    "multiplier-max": fault('kind = "latency_spike"\nmultiplier = 1000\nadd = "7d"\n'),
    "stacked-spikes": BASE + ''.join('[[faults]]\nprovider = "flash"\nkind = "latency_spike"\nmultiplier = 1000\n' for _ in range(5)),
    "max-name": 'name = "' + 'n' * 100 + '"\n' + BASE,
    "provider-groups": LOAD + TRAFFIC + PROV + 'group = "llama3:8b default"\n' + PROV2 + 'group = "llama3:8b default"\n',
    "provider-name-punct": LOAD + TRAFFIC + f'[[providers]]\nname = "flash-eu_1.v2@x"\nprofile = {FLASH}\n',
    "seed-max": 'seed = 9223372036854775807\n' + BASE,
    "cool-off-max": gw('[gateway.breaker]\ncool_off = "7d"\nwindow = "7d"\n'),
    "non-loopback-allowed": LOAD + TRAFFIC + '[gateway]\nurl = "https://gateway.example.com"\nallow_non_loopback = true\n',
    "ext-command-on-path": ext('command = ["sh", "-c", "exit 0"]\nready_timeout = "7d"\nenv = { EMPTY = "" }\n'),
    "region-fault": BASE + '[[faults]]\nregion = "us-east"\nkind = "outage"\nas = "hang"\nstart = "1s"\n',
    "sla-optional-every-name": BASE + '[sla]\nmax_time_to_failover = "5s"\noptional = ["uptime", "p50", "p95", "p99", "max_time_to_failover", "time_to_failover", "max_amplification", "amplification"]\n',
    "sla-optional-empty": BASE + '[sla]\noptional = []\n',
}

# Accepted files that also run for about a second. A generous lag limit,
# so that a machine busy with other builds does not make the run INVALID.
RUN = {
    "run-unicode": 'name = "läuft 🚀"\n[load]\ntimeout = "5s"\nmax_lag_p99 = "1s"\ndrain = "2s"\nstages = [{ hold_rpm = 120, for = "1s" }]\n[[traffic]]\nname = "чат"\nmodel = "default"\n' + PROV,
    "run-stacked-spikes": '[load]\ntimeout = "5s"\nmax_lag_p99 = "1s"\ndrain = "1s"\nstages = [{ hold_rpm = 120, for = "1s" }]\n' + TRAFFIC + PROV + '[gateway.policy]\nattempt_timeout = "1s"\n' + ''.join('[[faults]]\nprovider = "flash"\nkind = "latency_spike"\nmultiplier = 1000\nadd = "7d"\n' for _ in range(3)),
    "run-extreme-weights": '[load]\ntimeout = "5s"\nmax_lag_p99 = "1s"\ndrain = "2s"\nstages = [{ hold_rpm = 120, for = "1s" }]\n[[traffic]]\nname = "a"\nmodel = "default"\nweight = 1e9\n[[traffic]]\nname = "b"\nmodel = "default"\nweight = 1e9\nmax_tokens = 1\nprompt_tokens = 0\n' + PROV,
}


def write(folder, name, text):
    path = os.path.join(HERE, folder, name + ".toml")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


for d in ("reject", "accept", "profiles"):
    shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    os.makedirs(os.path.join(HERE, d))
for name, (field, body) in REJECT.items():
    write("reject", name, f"# expect: {field}\n{body}")
for name, (field, body) in PROFILES.items():
    write("profiles", name, body)
    write("reject", "profile-" + name,
          f"# expect: {field}\n# expect-file: tests/hostile/reject/../profiles/{name}.toml\n" + profile_ref(name))
for name, body in ACCEPT.items():
    write("accept", name, body)
for name, body in RUN.items():
    write("accept", name, "# run: yes\n" + body)
print(len(REJECT) + len(PROFILES), "reject,", len(ACCEPT) + len(RUN), "accept")
