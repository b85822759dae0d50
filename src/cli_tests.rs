//! Tests of the command-line definitions (`cli.rs`).

use super::*;
use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn gate_flags_parse_ratios_and_durations() {
    assert_eq!(parse_tolerance("10%"), Ok(0.1));
    assert_eq!(parse_tolerance("0.25"), Ok(0.25));
    assert!(parse_tolerance("-1").is_err() && parse_tolerance("ten").is_err());
    assert_eq!(parse_floor("5ms"), Ok(std::time::Duration::from_millis(5)));
    assert!(parse_floor("5").is_err());
}

#[test]
fn the_shard_flag_is_i_of_n() {
    assert_eq!(shard("0/3"), Ok((0, 3)));
    assert_eq!(shard("2/3"), Ok((2, 3)));
    assert_eq!(shard("0/1"), Ok((0, 1)));
    assert!(shard("3/3").unwrap_err().contains("from 0 to 2"));
    assert!(shard("0/0").unwrap_err().contains("from 1 to 1024"));
    assert!(shard("0/1025").unwrap_err().contains("from 1 to 1024"));
    for bad in ["a/b", "1", "", "-1/3", "1/3/4", "1.5/3"] {
        assert!(shard(bad).unwrap_err().contains("is not a shard"), "{bad}");
    }
    let cli = Cli::try_parse_from(["slabench", "run", "s.toml", "--shard", "1/4"]).unwrap();
    let Command::Run(args) = cli.command else {
        panic!("run")
    };
    assert_eq!(args.shard, Some((1, 4)));
    assert!(Cli::try_parse_from(["slabench", "run", "s.toml", "--shard", "4/4"]).is_err());
}

#[test]
fn merge_takes_several_ledgers_after_one_flag() {
    let cli = Cli::try_parse_from([
        "slabench", "merge", "a", "b", "--ledger", "l1.bin", "l2.bin", "--out", "m", "--ledger",
        "l3.bin",
    ])
    .unwrap();
    let Command::Merge(args) = cli.command else {
        panic!("merge")
    };
    assert_eq!(args.dirs, [PathBuf::from("a"), PathBuf::from("b")]);
    assert_eq!(args.ledgers.len(), 3);
    assert_eq!(args.out, PathBuf::from("m"));
    assert!(Cli::try_parse_from(["slabench", "merge", "a"]).is_err());
}

#[test]
fn capacity_percentages_need_their_percent_sign() {
    assert_eq!(headroom("20%"), Ok(0.2));
    assert_eq!(headroom(" 0% "), Ok(0.0));
    assert_eq!(precision("5%"), Ok(0.05));
    // A bare number is 0.2 or 0.2%: refused, with both spellings.
    let e = headroom("0.2").unwrap_err();
    assert!(e.contains("write 20% if 0.2 is a fraction"), "{e}");
    assert!(e.contains("0.2% for 0.2 percent"), "{e}");
    let e = precision("5").unwrap_err();
    assert!(
        e.contains("write 500% if 5 is a fraction, or 5% for 5 percent"),
        "{e}"
    );
    assert!(headroom("lots").is_err() && headroom("-5%").is_err());
    assert!(precision("0.1%").is_err() && precision("60%").is_err());
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn the_color_flag_is_read_before_clap_parses() {
    let flag = |args: &[&str]| color_flag(&os(args));
    assert_eq!(
        flag(&["slabench", "--color", "never", "--help"]),
        Some(ColorWhen::Never)
    );
    assert_eq!(
        flag(&["slabench", "run", "x.toml", "--color=always"]),
        Some(ColorWhen::Always)
    );
    assert_eq!(flag(&["slabench", "--help"]), None);
    // A value clap refuses is clap's to refuse; nothing after `--` is a flag.
    assert_eq!(flag(&["slabench", "--color", "sometimes"]), None);
    assert_eq!(flag(&["slabench", "--", "--color", "never"]), None);
    assert_eq!(flag(&["slabench", "--color"]), None);
    // The same flag, parsed by clap, after any subcommand.
    let cli = Cli::try_parse_from(["slabench", "validate", "a.toml", "--color", "never"]).unwrap();
    assert_eq!(cli.color, ColorWhen::Never);
    let cli = Cli::try_parse_from(["slabench", "validate", "a.toml"]).unwrap();
    assert_eq!(cli.color, ColorWhen::Auto);
    assert!(Cli::try_parse_from(["slabench", "--color", "sometimes", "validate", "a"]).is_err());
}

#[test]
fn json_is_a_flag_of_the_commands_that_print_a_summary() {
    for args in [
        &["slabench", "run", "s.toml", "--json"][..],
        &["slabench", "merge", "a", "--out", "m", "--json"],
        &["slabench", "report", "dir", "--json"],
        &["slabench", "capacity", "s.toml", "--json"],
        &["slabench", "scorecard", "g.toml", "--json"],
    ] {
        assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
    }
    assert!(Cli::try_parse_from(["slabench", "scorecard", "--list", "--json"]).is_err());
    assert!(Cli::try_parse_from(["slabench", "validate", "s.toml", "--json"]).is_err());
}
