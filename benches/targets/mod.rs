//! The targets a bench prints, checked: each bench prints its targets next
//! to what it measured, and its last lines say `all targets met` or, one
//! line per target missed, `FAIL: <target> missed (<measured>)`. A miss
//! exits 1, so a script or CI that runs the bench sees it.
//!
//! Not a bench target itself: cargo only finds `benches/*.rs` and
//! `benches/*/main.rs`.

use std::fmt::Display;

#[derive(Default)]
pub struct Targets {
    missed: Vec<String>,
}

impl Targets {
    /// Records whether `target` (e.g. "lag p99 < 2 ms") was `met`;
    /// `measured` is what the FAIL line shows. Returns `met`.
    pub fn check(&mut self, target: &str, met: bool, measured: impl Display) -> bool {
        if !met {
            self.missed
                .push(format!("FAIL: {target} missed ({measured})"));
        }
        met
    }

    /// Prints the verdict lines; exits 1 when a target was missed.
    pub fn finish(self) {
        if self.missed.is_empty() {
            println!("all targets met");
            return;
        }
        for line in &self.missed {
            println!("{line}");
        }
        std::process::exit(1);
    }
}
