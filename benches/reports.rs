//! Writing every report of a 10-minute run (600 s × 3 classes × 3
//! providers, synthetic data) must take well under 2 s.
//!
//! `cargo bench --bench reports` (release). Prints the time per output and
//! the total; the last line is `all targets met` or `FAIL: … missed (…)`,
//! which exits 1.

mod targets;

use std::time::{Duration, Instant};

use slabench::report::synthetic::{run_data, Shape};
use slabench::report::{Exporter, Failovers, Html, Json, Junit, Markdown, Timeseries};
use targets::Targets;

const BUDGET: Duration = Duration::from_secs(2);

/// latency.hlog for the whole run: what the recorder's sink and the tap
/// write second by second during a real run, done here in one go.
fn write_hlog(data: &slabench::report::RunData, dir: &std::path::Path) {
    use slabench::metrics::accumulate::Accumulator;
    use slabench::metrics::histogram;
    use slabench::report::hlog::HlogWriter;
    let streaming: Vec<bool> = data.hists.iter().map(|h| h.ttft.is_some()).collect();
    let mut log = HlogWriter::begin(
        &dir.join("latency.hlog"),
        &data.classes,
        &streaming,
        std::time::SystemTime::now(),
    )
    .unwrap();
    for s in &data.timeline {
        let mut hists = Vec::new();
        for (c, ok) in s.class_ok.iter().enumerate() {
            let mut h = histogram::new();
            for i in 0..*ok {
                histogram::record_us(&mut h, 200_000 + i * 10_000);
                if streaming[c] {
                    log.record_stream(
                        c,
                        Some(Duration::from_millis(100 + i)),
                        Some(Duration::from_millis(20)),
                    );
                }
            }
            hists.push(h);
        }
        log.write_second(s.t, &hists);
    }
    assert!(log.finish().is_none(), "writing latency.hlog");
}

fn main() {
    let data = run_data(&Shape::default());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exporters: [&dyn Exporter; 6] = [&Json, &Timeseries, &Failovers, &Html, &Junit, &Markdown];
    let mut best = Duration::MAX;
    for round in 0..3 {
        let start = Instant::now();
        for e in exporters {
            let t = Instant::now();
            let file = std::fs::File::create(dir.path().join(e.file_name())).unwrap();
            let mut out = std::io::BufWriter::new(file);
            e.write(&data, &mut out).unwrap();
            std::io::Write::flush(&mut out).unwrap();
            if round == 0 {
                let size = std::fs::metadata(dir.path().join(e.file_name()))
                    .unwrap()
                    .len();
                println!(
                    "{:<16} {:>8.1} ms  {:>8} KB",
                    e.file_name(),
                    t.elapsed().as_secs_f64() * 1e3,
                    size / 1024
                );
            }
        }
        if round == 0 {
            let t = Instant::now();
            write_hlog(&data, dir.path());
            let size = std::fs::metadata(dir.path().join("latency.hlog"))
                .unwrap()
                .len();
            println!(
                "{:<16} {:>8.1} ms  {:>8} KB  (streamed during a real run)",
                "latency.hlog",
                t.elapsed().as_secs_f64() * 1e3,
                size / 1024
            );
        }
        best = best.min(start.elapsed());
    }
    println!(
        "all reports, 600 s × 3 classes × 3 providers: {:.0} ms (best of 3; budget {} ms)",
        best.as_secs_f64() * 1e3,
        BUDGET.as_millis()
    );
    let mut targets = Targets::default();
    targets.check(
        &format!("all reports within {} ms", BUDGET.as_millis()),
        best <= BUDGET,
        format!("{:.0} ms", best.as_secs_f64() * 1e3),
    );
    targets.finish();
}
