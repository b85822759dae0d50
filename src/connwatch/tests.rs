use super::*;

#[test]
fn syns_are_counted_per_second_and_port_from_t0() {
    let ports = [8101, 8102];
    let mut t = Tally::new(&ports);
    t.syn(8101, 0);
    t.syn(8101, 999_999);
    t.syn(8102, 1_000_000);
    t.syn(8101, 3_500_000);
    assert_eq!(
        t.per_second,
        vec![vec![2, 0], vec![0, 1], vec![0, 0], vec![1, 0]]
    );
}

#[test]
fn other_ports_and_syns_before_t0_are_not_counted() {
    let ports = [8101];
    let mut t = Tally::new(&ports);
    t.syn(9999, 1_000);
    t.syn(8101, -1);
    t.syn(8101, i64::MIN);
    assert!(t.per_second.is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn the_loopbacks_outgoing_copy_is_skipped() {
    let ports = [80];
    let clock = RunClock::started_at(tokio::time::Instant::now());
    let mut syn = packet::tests::ipv4(6, &[0; 20]);
    syn[20 + 2..20 + 4].copy_from_slice(&80u16.to_be_bytes());
    syn[20 + 13] = 0x02;
    let mut t = Tally::new(&ports);
    t.packet(&syn, OUTGOING, &clock);
    assert!(t.per_second.is_empty());
    t.packet(&syn, 0 /* PACKET_HOST */, &clock);
    assert_eq!(t.per_second[0], vec![1]);
}

#[test]
fn without_the_privilege_the_reason_says_how_to_get_it() {
    let why = no_privilege();
    assert!(why.contains("CAP_NET_RAW"), "{why}");
    assert!(why.contains("setcap cap_net_raw+ep"), "{why}");
}
