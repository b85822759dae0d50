//! Bad scenarios: each is rejected with one error that points at the right
//! line and field and says how to fix it.

mod common;

use common::{assert_rejected, line_of, parse, scenario_path, FLASH, LOAD, TRAFFIC};

#[test]
fn negative_hold_rate_reports_file_line_column_field_and_fix() {
    let src = format!("[load]\nstages = [\n  {{ hold_rpm = 60, for = \"10s\" }},\n  {{ hold_rpm = -5, for = \"10s\" }},\n]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(
        &src,
        4,
        "load.stages[1].hold_rpm",
        "use ramp_to_rpm = 0 to stop",
    );
    assert_eq!(
        slabench::exit::render_one(&e),
        format!(
            "error: {}:4:16: load.stages[1].hold_rpm must be > 0; got -5\n  help: a hold stage sends at a positive rate; use ramp_to_rpm = 0 to stop",
            scenario_path().display()
        )
    );
}

#[test]
fn malformed_toml() {
    let src = format!("{LOAD}[[traffic]]\nmodel = \"default\n{FLASH}");
    let e = assert_rejected(&src, line_of(&src, "model = "), "", "TOML syntax");
    assert!(e.to_string().contains("invalid TOML"), "{e}");
}

#[test]
fn duplicate_key_is_a_syntax_error_at_the_second_definition() {
    let src = format!("name = \"a\"\nname = \"b\"\n{LOAD}{TRAFFIC}{FLASH}");
    assert_rejected(&src, 2, "", "one definition per key");
}

#[test]
fn unknown_key_suggests_the_closest_one() {
    let src = format!("[load]\nstages = [{{ hold_rmp = 60, for = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(
        &src,
        2,
        "load.stages[0].hold_rmp",
        "did you mean \"hold_rpm\"?",
    );
    assert!(
        e.to_string()
            .contains("unknown key `hold_rmp` in load.stages[0]"),
        "{e}"
    );
    assert_eq!(e.column(), Some(13));
}

#[test]
fn unknown_key_with_nothing_close_lists_the_valid_keys() {
    let src = format!("{LOAD}concurrency = 5\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(
        &src,
        3,
        "load.concurrency",
        "valid keys: \"arrival\", \"timeout\"",
    );
    assert!(!e.help().unwrap().contains("did you mean"), "{e}");
}

#[test]
fn unknown_top_level_table() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[slas]\nuptime = 0.99\n");
    assert_rejected(
        &src,
        line_of(&src, "[slas]"),
        "slas",
        "did you mean \"sla\"?",
    );
}

#[test]
fn unknown_enum_value_suggests_the_closest_one() {
    let src = format!("[load]\narrival = \"poison\"\nstages = [{{ hold_rpm = 60, for = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    assert_rejected(&src, 2, "load.arrival", "did you mean \"poisson\"?");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let src =
        format!("[load]\nstages = [{{ hold_rpm = \"fast\", for = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(
        &src,
        2,
        "load.stages[0].hold_rpm",
        "docs/scenario-reference.md",
    );
    assert!(
        e.to_string()
            .contains("must be a number; got string \"fast\""),
        "{e}"
    );
}

#[test]
fn nan_rate() {
    let src =
        format!("[load]\nstages = [{{ ramp_to_rpm = nan, over = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(&src, 2, "load.stages[0].ramp_to_rpm", "plain number");
    assert!(
        e.to_string().contains("must be a finite number; got NaN"),
        "{e}"
    );
}

#[test]
fn negative_ramp_rate() {
    let src =
        format!("[load]\nstages = [{{ ramp_to_rpm = -1, over = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    assert_rejected(&src, 2, "load.stages[0].ramp_to_rpm", "0 stops sending");
}

#[test]
fn stage_with_both_hold_and_ramp() {
    let src = format!("[load]\nstages = [\n  {{ hold_rpm = 60, ramp_to_rpm = 10, for = \"10s\" }},\n]\n{TRAFFIC}{FLASH}");
    assert_rejected(
        &src,
        3,
        "load.stages[0].ramp_to_rpm",
        "split it into two stages",
    );
}

#[test]
fn stage_with_neither_hold_nor_ramp() {
    let src = format!("[load]\nstages = [\n  {{ hold_rpm = 60, for = \"10s\" }},\n  {{ for = \"10s\" }},\n]\n{TRAFFIC}{FLASH}");
    assert_rejected(
        &src,
        4,
        "load.stages[1]",
        "{ hold_rpm = 600, for = \"1m\" }",
    );
}

#[test]
fn hold_stage_without_for() {
    let src = format!("[load]\nstages = [{{ hold_rpm = 60, over = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    assert_rejected(&src, 2, "load.stages[0].over", "for = \"1m\"");
}

#[test]
fn all_stages_at_rate_zero() {
    let src = format!("[load]\nstages = [\n  {{ ramp_to_rpm = 0, over = \"10s\" }},\n  {{ ramp_to_rpm = 0, from_rpm = 0, over = \"5s\" }},\n]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(&src, 2, "load.stages", "positive rate");
    assert!(e.to_string().contains("nothing would be sent"), "{e}");
}

#[test]
fn stages_that_ask_for_less_than_one_request() {
    // A positive rate that schedules nothing: the run would send no
    // request and end INVALID, so validate refuses it.
    for stages in [
        "{ hold_rpm = 1e-300, for = \"5s\" }",
        "{ hold_rpm = 0.001, for = \"5s\" }",
        "{ hold_rpm = 1, for = \"10s\" }, { ramp_to_rpm = 0, from_rpm = 0.5, over = \"30s\" }",
    ] {
        let src = format!("[load]\nstages = [{stages}]\n{TRAFFIC}{FLASH}");
        let e = assert_rejected(&src, 2, "load.stages", "at least one request");
        assert!(e.to_string().contains("measure nothing"), "{e}");
    }
    // One expected request is enough.
    let src = format!("[load]\nstages = [{{ hold_rpm = 6, for = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    parse(&src).expect("one expected request is accepted");
}

#[test]
fn missing_load() {
    let src = format!("{TRAFFIC}{FLASH}");
    assert_rejected(&src, 1, "load.stages", "add [load]");
}

#[test]
fn missing_traffic_mix() {
    let src = format!("{LOAD}{FLASH}");
    assert_rejected(&src, 1, "traffic", "add a [[traffic]] table");
}

#[test]
fn empty_traffic_mix() {
    let src = format!("traffic = []\n{LOAD}{FLASH}");
    assert_rejected(&src, 1, "traffic", "add a [[traffic]] table");
}

#[test]
fn zero_weight() {
    let src = format!("{LOAD}[[traffic]]\nmodel = \"default\"\nweight = 5\n[[traffic]]\nmodel = \"premium\"\nweight = 0\n{FLASH}");
    assert_rejected(
        &src,
        line_of(&src, "weight = 0"),
        "traffic[1].weight",
        "never sent",
    );
}

#[test]
fn negative_weight() {
    let src = format!("{LOAD}[[traffic]]\nmodel = \"default\"\nweight = -3\n{FLASH}");
    let e = assert_rejected(
        &src,
        line_of(&src, "weight = -3"),
        "traffic[0].weight",
        "relative shares",
    );
    assert!(e.to_string().contains("must be > 0; got -3"), "{e}");
}

#[test]
fn weights_summing_to_zero() {
    let src = format!("{LOAD}[[traffic]]\nmodel = \"a\"\nweight = 0\n[[traffic]]\nmodel = \"b\"\nweight = 0\n{FLASH}");
    let e = assert_rejected(
        &src,
        line_of(&src, "weight = 0"),
        "traffic[0].weight",
        "positive relative weights",
    );
    assert!(e.to_string().contains("sum to zero"), "{e}");
}

#[test]
fn unparsable_duration() {
    let src = format!("[load]\ntimeout = \"thirty seconds\"\nstages = [{{ hold_rpm = 60, for = \"10s\" }}]\n{TRAFFIC}{FLASH}");
    let e = assert_rejected(&src, 2, "load.timeout", "\"1m30s\"");
    assert!(e.to_string().contains("is not a duration"), "{e}");
}

#[test]
fn budget_that_is_not_a_duration() {
    let src = format!("{LOAD}{TRAFFIC}[traffic.sla]\np99 = 300\n{FLASH}");
    let e = assert_rejected(
        &src,
        line_of(&src, "p99 = 300"),
        "traffic[0].sla.p99",
        "quoted number with a unit",
    );
    assert!(e.to_string().contains("got integer `300`"), "{e}");
}

#[test]
fn budgets_out_of_order() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[sla]\np50 = \"2s\"\np99 = \"1s\"\n");
    assert_rejected(
        &src,
        line_of(&src, "p99 ="),
        "sla.p99",
        "must be at least p50",
    );
}

#[test]
fn missing_env_variable_names_it_and_hides_other_header_values() {
    let src = format!(
        "{LOAD}{TRAFFIC}[gateway]\nkind = \"external\"\nurl = \"http://127.0.0.1:4000\"\nheaders = {{ X-Other = \"Bearer ${{GATEWAY_KEY}}\", Y-Auth = \"Bearer ${{MISSING_KEY}}\" }}\n"
    );
    let e = assert_rejected(
        &src,
        line_of(&src, "headers ="),
        "gateway.headers.Y-Auth",
        "export MISSING_KEY",
    );
    let shown = e.to_string();
    assert!(shown.contains("MISSING_KEY is not set"), "{shown}");
    assert!(
        !shown.contains("sk-test-secret") && !shown.contains("Bearer"),
        "a header value leaked:\n{shown}"
    );
}

#[test]
fn uptime_out_of_range() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[sla]\nuptime = 99.9\n");
    let e = assert_rejected(&src, line_of(&src, "uptime"), "sla.uptime", "(\"99.9%\")");
    assert!(e.to_string().contains("must be in (0, 1]; got 99.9"), "{e}");
}

#[test]
fn duplicate_class_names() {
    let src = format!("{LOAD}[[traffic]]\nname = \"chat\"\nmodel = \"a\"\n[[traffic]]\nname = \"chat\"\nmodel = \"b\"\n{FLASH}");
    let e = assert_rejected(&src, 7, "traffic[1].name", "its own name");
    assert!(e.to_string().contains("already used by traffic[0]"), "{e}");
}

#[test]
fn duplicate_provider_names_from_the_same_profile() {
    let src = format!("{LOAD}{TRAFFIC}[[providers]]\nprofile = \"qwen3-32b\"\n[[providers]]\nprofile = \"qwen3-32b\"\n");
    let e = assert_rejected(&src, 8, "providers[1].profile", "its own name");
    assert!(
        e.to_string()
            .contains("\"qwen3-32b\", already used by providers[0]"),
        "{e}"
    );
}

#[test]
fn unknown_profile_lists_the_available_ones() {
    let src = format!("{LOAD}{TRAFFIC}[[providers]]\nprofile = \"deepseek-v5\"\n");
    let e = assert_rejected(
        &src,
        6,
        "providers[0].profile",
        "available profiles: \"claude-sonnet\", \"deepseek-r1\", \"deepseek-v4-flash\", \"qwen3-32b\"",
    );
    assert!(
        e.to_string().contains("is not a known provider profile"),
        "{e}"
    );
}

#[test]
fn unknown_provider_in_a_route() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[gateway.routes]\ndefault = [\"flash\", \"flsh2\"]\n");
    assert_rejected(
        &src,
        line_of(&src, "default = ["),
        "gateway.routes.default[1]",
        "did you mean \"flash\"?",
    );
}

#[test]
fn unknown_provider_in_a_fault() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"qwen\"\nkind = \"outage\"\n");
    let e = assert_rejected(
        &src,
        line_of(&src, "provider = \"qwen\""),
        "faults[0].provider",
        "providers: \"flash\"",
    );
    assert!(
        e.to_string()
            .contains("names no provider in this scenario; got \"qwen\""),
        "{e}"
    );
}

#[test]
fn fault_with_both_provider_and_region() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"flash\"\nregion = \"us-east\"\nkind = \"outage\"\n");
    assert_rejected(
        &src,
        line_of(&src, "region ="),
        "faults[0].region",
        "set exactly one",
    );
}

#[test]
fn fault_with_neither_provider_nor_region() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nkind = \"outage\"\n");
    assert_rejected(
        &src,
        line_of(&src, "[[faults]]"),
        "faults[0]",
        "set exactly one",
    );
}

#[test]
fn region_no_provider_is_in() {
    let src =
        format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nregion = \"eu-west\"\nkind = \"error_burst\"\n");
    assert_rejected(
        &src,
        line_of(&src, "region ="),
        "faults[0].region",
        "\"us-east\"",
    );
}

#[test]
fn refuse_outage_with_partial_probability() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"flash\"\nkind = \"outage\"\nas = \"refuse\"\nprobability = \"50%\"\n");
    assert_rejected(
        &src,
        line_of(&src, "probability"),
        "faults[0].probability",
        "per port, all or nothing",
    );
}

#[test]
fn fault_key_of_another_kind() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"flash\"\nkind = \"latency_spike\"\nmultiplier = 3\nstatus = 500\n");
    assert_rejected(
        &src,
        line_of(&src, "status"),
        "faults[0].status",
        "belongs to kind = \"outage\" or \"error_burst\"",
    );
}

#[test]
fn fault_starting_after_the_stages_end() {
    let src = format!("{LOAD}{TRAFFIC}{FLASH}[[faults]]\nprovider = \"flash\"\nkind = \"stream_cut\"\nstart = \"1m\"\n");
    assert_rejected(
        &src,
        line_of(&src, "start"),
        "faults[0].start",
        "never fires",
    );
}

#[test]
fn builtin_gateway_without_providers() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nkind = \"builtin\"\n");
    assert_rejected(
        &src,
        line_of(&src, "kind"),
        "gateway.kind",
        "add [[providers]]",
    );
}

#[test]
fn no_gateway_and_no_providers() {
    let src = format!("{LOAD}{TRAFFIC}");
    let e = assert_rejected(&src, 1, "gateway", "kind = \"external\"");
    assert!(e.to_string().contains("nothing to test"), "{e}");
}

#[test]
fn traffic_model_without_a_route() {
    let src = format!("{LOAD}{TRAFFIC}[[traffic]]\nmodel = \"premium\"\n{FLASH}[gateway.routes]\ndefault = [\"flash\"]\n");
    assert_rejected(
        &src,
        line_of(&src, "\"premium\""),
        "traffic[1].model",
        "add premium = [\"flash\"] to [gateway.routes]",
    );
}

#[test]
fn non_loopback_url_needs_an_explicit_opt_in() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nurl = \"https://gateway.example.com\"\n");
    let e = assert_rejected(
        &src,
        line_of(&src, "url"),
        "gateway.url",
        "a load tester pointed at the wrong URL is an outage",
    );
    assert!(
        e.help().unwrap().contains("allow_non_loopback = true"),
        "{e}"
    );
    let allowed = src.replace("[gateway]\n", "[gateway]\nallow_non_loopback = true\n");
    assert!(parse(&allowed).is_ok());
}

#[test]
fn external_gateway_without_url() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nkind = \"external\"\n");
    assert_rejected(
        &src,
        line_of(&src, "[gateway]"),
        "gateway.url",
        "http://127.0.0.1:4000",
    );
}

#[test]
fn invalid_url() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nkind = \"external\"\nurl = \"http://\"\n");
    let e = assert_rejected(
        &src,
        line_of(&src, "url"),
        "gateway.url",
        "base URL with scheme and host",
    );
    assert!(e.to_string().contains("is not a valid URL"), "{e}");
}

#[test]
fn url_with_the_api_path_appended() {
    let src =
        format!("{LOAD}{TRAFFIC}[gateway]\nurl = \"http://localhost:4000/v1/chat/completions\"\n");
    assert_rejected(
        &src,
        line_of(&src, "url"),
        "gateway.url",
        "slabench appends /v1/chat/completions",
    );
}

#[test]
fn builtin_key_on_an_external_gateway() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nurl = \"http://127.0.0.1:4000\"\n[gateway.routes]\ndefault = [\"x\"]\n");
    assert_rejected(
        &src,
        line_of(&src, "[gateway.routes]"),
        "gateway.routes",
        "does its own routing",
    );
}

#[test]
fn error_in_a_profile_names_the_profile_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mock-providers")).unwrap();
    let profile = "region = \"us-east\"\nprice_input_per_m = 0.1\nprice_output_per_m = 0.2\n[speed]\ntokens_per_s = 100\n[ttft]\ndist = \"lognormal\"\np50 = \"200ms\"\np99 = \"100ms\"\n[output_tokens]\ndist = \"fixed\"\nvalue = 50\n";
    std::fs::write(dir.path().join("mock-providers/custom.toml"), profile).unwrap();
    let scenario = dir.path().join("peak.toml");
    let src = format!("{LOAD}{TRAFFIC}[[providers]]\nprofile = \"custom\"\n");
    std::fs::write(&scenario, &src).unwrap();
    let e = slabench::scenario::load(&scenario).unwrap_err();
    assert_eq!(e.file(), dir.path().join("mock-providers/custom.toml"));
    assert_eq!(
        (e.line(), e.column(), e.field()),
        (Some(9), Some(7), "ttft.p99")
    );
    let shown = slabench::exit::render_one(&e);
    assert!(
        shown.contains("ttft.p99 (100ms) must be above p50 (200ms)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "note: the profile of providers[0] ({}:6",
            scenario.display()
        )),
        "{shown}"
    );
}

#[test]
fn unreadable_file() {
    let e = slabench::scenario::load(std::path::Path::new("/nonexistent/peak.toml")).unwrap_err();
    assert!(
        slabench::exit::render_one(&e)
            .starts_with("error: /nonexistent/peak.toml: cannot read the file"),
        "{e}"
    );
    assert_eq!(e.line(), None);
}

#[test]
fn single_brackets_for_an_array_of_tables() {
    let src = format!("{LOAD}[traffic]\nmodel = \"default\"\n{FLASH}");
    let e = assert_rejected(&src, 3, "traffic", "write [[traffic]] (double brackets)");
    assert!(
        e.to_string()
            .contains("traffic must be an array; got a table"),
        "{e}"
    );
}

#[test]
fn invalid_header_name() {
    let src = format!("{LOAD}{TRAFFIC}[gateway]\nurl = \"http://127.0.0.1:4000\"\nheaders = {{ \"Bad Header\" = \"x\" }}\n");
    assert_rejected(
        &src,
        line_of(&src, "headers"),
        "gateway.headers.\"Bad Header\"",
        "letters, digits and -",
    );
}

#[test]
fn a_file_that_is_not_utf8_is_one_located_error_with_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(
        &path,
        b"[load]\nstages = []\n[[traffic]]\nmodel = \"def\xffault\"\n",
    )
    .unwrap();
    let e = slabench::scenario::load(&path).expect_err("not UTF-8");
    assert_eq!((e.line(), e.column()), (Some(4), Some(13)), "{e}");
    let shown = slabench::exit::render_one(&e);
    assert!(
        shown.contains("not UTF-8") && shown.contains("0xff"),
        "{shown}"
    );
    assert!(shown.contains("\n  help: "), "{shown}");
}

#[test]
fn an_unreadable_file_names_the_io_error_once_with_help() {
    let path = std::path::Path::new("/nonexistent/slabench/scenario.toml");
    let e = slabench::scenario::load(path).expect_err("no such file");
    let chain = format!("{:#}", anyhow::Error::new(e));
    assert_eq!(chain.matches("No such file").count(), 1, "{chain}");
    let e = slabench::scenario::load(path).unwrap_err();
    let shown = slabench::exit::render_one(&e);
    assert!(shown.contains("\n  help: check the path"), "{shown}");
}
