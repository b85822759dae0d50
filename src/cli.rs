//! Command-line definitions (clap derive). `--help` carries examples and the
//! exit codes; `main.rs` maps outcomes to those codes in one place. The
//! shell completions and man pages are generated from these definitions
//! (`cli_docs.rs`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  slabench run scenarios/peak.toml            run the showcase scenario
  slabench run scenarios/smoke.toml --out out  write reports to ./out
  slabench validate scenarios/*.toml          check scenarios without running
  slabench mock scenarios/peak.toml           serve the scenario's providers by hand
  slabench report reports/peak-20250101T120000Z  rebuild report.html, summary.md, junit.xml
  slabench run scenarios/smoke.toml --save-baseline reports/baselines/smoke.json
  slabench run scenarios/smoke.toml --baseline reports/baselines/smoke.json
  slabench compare reports/baselines/smoke.json reports/smoke-20250101T000000Z
  slabench capacity scenarios/capacity.toml --require-headroom 20%   find the headroom
  slabench run scenarios/smoke.toml --shard 1/3 --out runs/s1   one shard of three
  slabench merge runs/s0 runs/s1 runs/s2 --out runs/merged      one verdict from the shards
  slabench run scenarios/smoke.toml > summary.txt   the table on stdout, progress on stderr
  slabench run scenarios/smoke.toml --json | jq .verdict   summary.json on stdout
  slabench completions bash > ~/.local/share/bash-completion/completions/slabench

Output: a command's result (the summary table, or summary.json with --json) goes
to stdout; progress, warnings and errors go to stderr. Colour: --color always or
never wins; with auto (the default) a non-empty NO_COLOR turns it off, and
otherwise only a terminal gets colour.

Exit codes:
  0  PASS        every SLA check passed
  1  FAIL        an SLA check failed
  2  ERROR       bad usage, a bad scenario, or a run that could not start
  3  INVALID     numbers untrusted: the generator could not hold the schedule,
                 or slabench itself failed (an internal error)
  4  REGRESSION  worse than the stored baseline
  5  INTERRUPTED stopped (Ctrl-C, SIGTERM) before the schedule ended; what was
                 measured is written, but it is not a verdict on the scenario
  6  UNMEASURED  a check could not be measured (e.g. a class got no request)
The worst decides: INVALID, INTERRUPTED, FAIL, UNMEASURED, REGRESSION, PASS.";

#[derive(Debug, Parser)]
#[command(name = "slabench", version, about = "Load-test an LLM API gateway and verify its SLA", after_help = AFTER_HELP)]
pub struct Cli {
    /// Colour in the output: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorWhen::Auto
    )]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

/// `--color`: when slabench's output (and clap's help) is in colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorWhen {
    /// Colour a stream only when it is a terminal, unless NO_COLOR is set and non-empty.
    #[default]
    Auto,
    /// Always colour, whatever the stream and NO_COLOR.
    Always,
    /// Never colour: no escape code at all.
    Never,
}

impl ColorWhen {
    /// Makes this the process-wide choice that every output stream
    /// follows (anstream's, which clap's help and errors use too; see
    /// `crate::term`).
    pub fn apply(self) {
        anstream::ColorChoice::write_global(match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        });
    }
}

/// Parses the process's arguments. `--color` is applied before clap
/// parses, so that `--help` and clap's own errors follow it too.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(when) = color_flag(&args) {
        when.apply();
    }
    let cli = Cli::parse_from(args);
    cli.color.apply();
    cli
}

/// The value of the last `--color WHEN` or `--color=WHEN` before `--`
/// (a value clap would refuse is left for clap to refuse).
fn color_flag(args: &[OsString]) -> Option<ColorWhen> {
    let mut found = None;
    let mut it = args.iter().skip(1).map(|a| a.to_str());
    while let Some(arg) = it.next() {
        let value = match arg {
            Some("--") => break,
            Some("--color") => it.next().flatten(),
            Some(a) => a.strip_prefix("--color="),
            None => None,
        };
        if let Some(when) = value.and_then(|v| ColorWhen::from_str(v, false).ok()) {
            found = Some(when);
        }
    }
    found
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: start providers and gateway, drive the load, judge the SLA.
    Run(RunArgs),
    /// Check scenario files without running anything.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Accept a non-loopback gateway url, as `run --allow-remote` does.
        #[arg(long)]
        allow_remote: bool,
    },
    /// Serve a scenario's simulated providers until Ctrl-C or SIGTERM (point your own gateway at them).
    #[command(after_help = MOCK_HELP)]
    Mock(MockArgs),
    /// Compare a run with a baseline; exit 4 when a metric regressed.
    Compare(CompareArgs),
    /// Serve the built-in reference gateway in front of a scenario's providers until Ctrl-C.
    Gateway {
        scenario: PathBuf,
        /// Upstream provider URL, as NAME=URL (repeatable); default: start the scenario's providers.
        #[arg(long = "provider", value_name = "NAME=URL")]
        providers: Vec<String>,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
    /// Run the failover scorecard: a battery of fault scenarios against one gateway, scored pass, partial, fail or not measured.
    #[command(after_help = SCORECARD_HELP)]
    Scorecard(ScorecardArgs),
    /// Search for the highest load at which the scenario still passes: its capacity and headroom.
    #[command(after_help = CAPACITY_HELP)]
    Capacity(CapacityArgs),
    /// Merge the run directories of a sharded run (`run --shard I/N`) into one run directory and verdict.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Rebuild report.html, summary.md and junit.xml of a finished run from its stored data.
    Report {
        /// A run's output directory (holds summary.json, timeseries.csv, latency.hlog).
        run_dir: PathBuf,
        /// Print the run's summary.json to stdout (the rebuilt files' paths go to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script to stdout.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page slabench(1) to stdout, or write every page into a directory.
    #[command(after_help = MAN_HELP)]
    Man {
        /// Write slabench.1 and one page per subcommand (slabench-run.1, ...) into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

const COMPLETIONS_HELP: &str = "\
Examples:
  slabench completions bash > ~/.local/share/bash-completion/completions/slabench
  slabench completions zsh > ~/.zfunc/_slabench     (with fpath+=~/.zfunc before compinit)
  slabench completions fish > ~/.config/fish/completions/slabench.fish
  slabench completions powershell >> $PROFILE
  eval (slabench completions elvish | slurp)      (in ~/.config/elvish/rc.elv)";

const MAN_HELP: &str = "\
Examples:
  slabench man | man -l -
  slabench man --dir ~/.local/share/man/man1   then: man slabench-run";

const SCORECARD_HELP: &str = "\
Examples:
  slabench scorecard scenarios/scorecard/builtin.toml
  slabench scorecard scenarios/scorecard/litellm.toml --out runs/litellm
  slabench scorecard scenarios/scorecard/builtin.toml --only outage-503,hang
  slabench scorecard --list

GATEWAY_FILE holds only [gateway]; the scorecard supplies the providers
(flash :18311 and flash-b :18312 in group default, qwen :18313, r1 :18314),
the load (300 RPM, 12 s per case), each case's fault and its SLA.

Exit codes:
  0  every case passed
  1  a case failed or was partial
  2  bad usage, a bad gateway file, or a case whose run could not be made
     (the gateway did not start, a port was taken)
  3  a case's run was INVALID: slabench could not hold the schedule, or crashed
  5  interrupted (Ctrl-C, SIGTERM): the finished cases are written, marked incomplete
  6  a case was not measured (its fault never fired, a required check had
     nothing to measure), and none failed";

const MERGE_HELP: &str = "\
Examples:
  slabench run scenarios/smoke.toml --shard 0/3 --out runs/s0   (and 1/3, 2/3)
  slabench merge runs/s0 runs/s1 runs/s2 --out runs/merged
  slabench merge /runs/shard-* --ledger /runs/ledgers/*.bin --out /runs/merged

A shard that started its own providers keeps its ledger.bin in its run
directory, and merge uses it; --ledger adds ledger parts written elsewhere
(slabench mock --ledger FILE). Merge refuses run directories of different
scenarios, seeds, shard counts or start times, the same shard twice, and
an --out that is a shard's own directory.
A missing shard makes the merged run INVALID (its share was never measured).

Exit codes: as `slabench run` (0 PASS, 1 FAIL, 2 a refusal or bad usage,
3 INVALID, 4 REGRESSION, 5 INTERRUPTED, 6 UNMEASURED).";

const CAPACITY_HELP: &str = "\
Examples:
  slabench capacity scenarios/capacity.toml
  slabench capacity scenarios/capacity.toml --require-headroom 20%
  slabench capacity scenarios/peak.toml --min-rpm 20000 --max-rpm 80000 --precision 5% --repeats 2

Each probe runs the scenario with every stage's RPM times a factor (faults,
traffic classes and SLA unchanged) into OUT/probes/NN-f<factor>/. The search
brackets from the scenario's own load (doubling or halving), then bisects
until the bracket is within --precision; the capacity is the highest load at
which --repeats runs (seeds seed, seed+1, ...) all passed. A probe passes
only when its run's verdict is PASS.

Exit codes:
  0  the capacity is at least the scenario's peak + --require-headroom (default 0%)
  1  it is not, or even --min-rpm did not pass
  2  bad usage, a bad scenario, or a probe's run could not be made
  3  INVALID: the generator could not hold a probe's load on this machine before
     the search ended (\"capacity not found below this machine's limit\")
  5  interrupted (Ctrl-C, SIGTERM): the probes that finished are written; no capacity is claimed";

const MOCK_HELP: &str = "\
Examples:
  slabench mock scenarios/peak.toml
  slabench mock scenarios/peak.toml --port flash=9101 --port qwen=9102
  slabench mock scenario.toml --bind 0.0.0.0 --allow-remote --start-at 2026-12-03T18:00:00Z \\
      --ledger /runs/ledgers/provider-0.bin

Every provider answers GET /health with 200 (not recorded in the ledger).
Ctrl-C or SIGTERM: stop accepting, finish the answers in progress, flush the
ledger, print how many attempts it holds, exit 0.";

/// `slabench mock`: the scenario's providers as a service.
#[derive(Debug, clap::Args)]
pub struct MockArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Where the providers' ledger of attempts is written (one file per replica).
    #[arg(
        long,
        env = "SLABENCH_LEDGER",
        default_value = "reports/mock-ledger.bin"
    )]
    pub ledger: PathBuf,
    /// The address the providers listen on; other than loopback needs --allow-remote.
    #[arg(
        long,
        value_name = "ADDR",
        env = "SLABENCH_BIND",
        default_value = "127.0.0.1"
    )]
    pub bind: std::net::IpAddr,
    /// A provider's port, overriding its scenario `port` (repeatable, or comma-separated).
    #[arg(long = "port", value_name = "NAME=PORT", env = "SLABENCH_PORTS", value_delimiter = ',', value_parser = name_port)]
    pub ports: Vec<(String, u16)>,
    /// t=0 of the fault windows: RFC 3339 (2026-12-03T18:00:00Z) or Unix seconds [default: now].
    #[arg(long, value_name = "TIME", env = "SLABENCH_START_AT", value_parser = start_at)]
    pub start_at: Option<crate::clock::StartAt>,
    /// Allow a --bind address other than loopback (and a scenario whose gateway url is not loopback).
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

fn name_port(s: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!("`{s}` is not NAME=PORT: write a provider's name and a TCP port, e.g. flash=9101")
    };
    let (name, port) = s.trim().split_once('=').ok_or_else(bad)?;
    let port: u16 = port.trim().parse().map_err(|_| bad())?;
    match (name.trim(), port) {
        ("", _) | (_, 0) => Err(bad()),
        (name, port) => Ok((name.to_string(), port)),
    }
}

fn start_at(s: &str) -> Result<crate::clock::StartAt, String> {
    crate::clock::StartAt::parse(s)
}

#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The lowest peak RPM to try (default: the scenario's peak / 8).
    #[arg(long, value_name = "RPM", value_parser = positive_rpm)]
    pub min_rpm: Option<f64>,
    /// The highest peak RPM to try (default: the scenario's peak × 8).
    #[arg(long, value_name = "RPM", value_parser = positive_rpm)]
    pub max_rpm: Option<f64>,
    /// Stop when the bracket's ends are within this much of each other (percent, 1 to 50).
    #[arg(long, value_name = "PCT", default_value = "5%", value_parser = precision)]
    pub precision: f64,
    /// Passing runs the capacity needs (different seeds), 1 to 10.
    #[arg(long, value_name = "K", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub repeats: u32,
    /// Exit 0 only when the capacity is at least this much over the scenario's peak (percent).
    #[arg(long, value_name = "PCT", default_value = "0%", value_parser = headroom)]
    pub require_headroom: f64,
    /// Override the scenario's seed (repeats use seed+1, seed+2, ...).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory (default: `reports/capacity-<scenario>-<UTC timestamp>/`, beside `run`'s).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print capacity.json to stdout instead of the summary (the exit code is the same).
    #[arg(long)]
    pub json: bool,
}

fn positive_rpm(s: &str) -> Result<f64, String> {
    match s.trim().replace([',', '_'], "").parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000_000.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a rate: give requests per minute in (0, 10000000], e.g. 1200"
        )),
    }
}

/// `20%` → 0.2. The `%` is required: a bare `0.2` could mean 0.2% or
/// 20% (capacity.json stores fractions), so it is refused with a hint.
fn percent(s: &str, what: &str, range: &str, example: &str) -> Result<f64, String> {
    let t = s.trim();
    let Some(num) = t.strip_suffix('%') else {
        let hint = match t.parse::<f64>() {
            Ok(v) if v.is_finite() => format!(
                "; a bare number is ambiguous: write {}% if {v} is a fraction, or {v}% for \
                 {v} percent",
                (v * 100.0 * 1e6).round() / 1e6
            ),
            _ => String::new(),
        };
        return Err(format!(
            "`{s}` is not a {what}: give a percentage with its % sign from {range}, e.g. \
             {example}{hint}"
        ));
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v / 100.0)
        .ok_or_else(|| {
            format!("`{s}` is not a {what}: give a percentage from {range}, e.g. {example}")
        })
}

fn precision(s: &str) -> Result<f64, String> {
    let p = percent(s, "precision", "1% to 50%", "5%")?;
    (0.01..=0.5).contains(&p).then_some(p).ok_or_else(|| {
        format!("`{s}` is not a precision: give a percentage from 1% to 50%, e.g. 5%")
    })
}

fn headroom(s: &str) -> Result<f64, String> {
    let p = percent(s, "headroom", "0% to 10000%", "20%")?;
    (0.0..=100.0).contains(&p).then_some(p).ok_or_else(|| {
        format!("`{s}` is not a headroom: give a percentage from 0% to 10000%, e.g. 20%")
    })
}

#[derive(Debug, clap::Args)]
pub struct ScorecardArgs {
    /// The gateway file: only a `gateway` table (see scenarios/scorecard/).
    #[arg(
        required_unless_present = "list",
        help = "The gateway file: only a [gateway] table (see scenarios/scorecard/)"
    )]
    pub gateway_file: Option<PathBuf>,
    /// Output directory (default: `runs/scorecard-<UTC timestamp>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only these cases (comma-separated names; see --list).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Option<Vec<String>>,
    /// List the cases and what a correct gateway does in each, then exit.
    #[arg(long)]
    pub list: bool,
    /// Print scorecard.json to stdout instead of the summary (the exit code is the same).
    #[arg(long, conflicts_with = "list")]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Output directory (default: `reports/<scenario>-<UTC timestamp>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress line and no summary table (--json still prints summary.json).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print summary.json to stdout instead of the summary table (the exit code is the same).
    #[arg(long)]
    pub json: bool,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write requests.csv: one row per request, streamed to disk as the run goes.
    #[arg(long)]
    pub requests_csv: bool,
    /// Run even when the target refuses the preflight connection (a gateway
    /// expected to come up later); by default that is an error (exit 2).
    #[arg(long)]
    pub allow_unreachable: bool,
    /// Compare with this baseline file (or run directory); exit 4 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Also save this run as a baseline file (commit it under reports/baselines/).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Send only shard I of N (from 0): the arrivals whose number is I mod N,
    /// at their instants in the whole schedule; `slabench merge` joins the N runs.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    pub shard: Option<(u32, u32)>,
    /// t=0 (the first stage, every fault window) at this wall-clock time: RFC 3339
    /// (2026-12-03T18:00:00Z) or Unix seconds. The run gets ready, then waits for it.
    #[arg(long, value_name = "TIME", value_parser = start_at)]
    pub start_at: Option<crate::clock::StartAt>,
    /// Do not start the scenario's `[[providers]]`: a `slabench mock` serves them
    /// elsewhere (external gateway only; no ledger: `slabench merge --ledger` joins it).
    #[arg(long)]
    pub no_providers: bool,
    /// Allow a gateway url that is not loopback (as `allow_non_loopback = true` in `[gateway]`).
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `--metrics-addr` and its companions, for run, mock and gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    /// Serve live Prometheus metrics (OpenMetrics text) at http://ADDR/metrics
    /// while this runs, e.g. 127.0.0.1:9464 (port 0: any free one, printed).
    #[arg(long, value_name = "ADDR", env = "SLABENCH_METRICS_ADDR", value_parser = host_port)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How long the metrics stay up after the work ends, so the last scrape
    /// sees the final values (a second Ctrl-C ends it early).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    pub metrics_linger: std::time::Duration,
    /// Allow a --metrics-addr other than loopback (metrics for other machines).
    #[arg(long, env = "SLABENCH_METRICS_ALLOW_REMOTE")]
    pub metrics_allow_remote: bool,
}

/// HOST:PORT, the host an IP address or a name (`localhost:9464`).
fn host_port(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.trim().parse() {
        return Ok(addr);
    }
    let bad = |why: String| {
        format!("`{s}` is not HOST:PORT ({why}): write e.g. 127.0.0.1:9464, [::1]:9464 or localhost:9464")
    };
    let mut addrs = s.trim().to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| bad("the name has no address".into()))
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}): write e.g. 15s, 1m or 0s"))
}

/// The most shards (`load::shard::MAX_SHARDS`, which checks the same).
const MAX_SHARDS: u32 = 1024;

/// `I/N` with 0 <= I < N <= 1024.
fn shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || {
        format!(
            "`{s}` is not a shard: write I/N, shard I (from 0) of N (from 1 to {MAX_SHARDS}), e.g. 0/3"
        )
    };
    let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
    let i: u32 = i.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || n > MAX_SHARDS {
        return Err(format!(
            "`{s}`: the shard count must be from 1 to {MAX_SHARDS}; got {n}"
        ));
    }
    if i >= n {
        return Err(format!(
            "`{s}`: shard {i} of {n} does not exist: shards are numbered from 0 to {}, e.g. \
             --shard 0/{n} ... --shard {}/{n}",
            n - 1,
            n - 1
        ));
    }
    Ok((i, n))
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' run directories (each holds a shard/ folder).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Ledger parts written by providers elsewhere (repeatable; several files may follow one --ledger).
    #[arg(long = "ledger", value_name = "FILE", num_args = 1.., action = clap::ArgAction::Append)]
    pub ledgers: Vec<PathBuf>,
    /// The merged run directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No summary table (--json still prints summary.json).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the merged summary.json to stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Compare with this baseline file (or run directory); exit 4 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Also save the merged run as a baseline file.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// Overrides of the scenario's `[gate]`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct GateArgs {
    /// Relative slack before a slower metric counts, e.g. 10% or 0.1 [default: `[gate]` tolerance, 10%].
    #[arg(long, value_name = "RATIO", value_parser = parse_tolerance)]
    pub tolerance: Option<f64>,
    /// Absolute slack: smaller latency changes never count, e.g. 5ms [default: `[gate]` floor, 5ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_floor)]
    pub floor: Option<std::time::Duration>,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline: a file written by --save-baseline, or a run directory.
    pub baseline: PathBuf,
    /// The candidate: another baseline file, or a run directory (its baseline.json).
    pub candidate: PathBuf,
    #[command(flatten)]
    pub gate: GateArgs,
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a ratio; write 10% or 0.1"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s:?} must be >= 0"))
    }
}

fn parse_floor(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 5ms"))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
