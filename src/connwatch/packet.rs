//! Reading one IP packet: is it a TCP SYN, and to which port?
//!
//! The packet socket is opened as `SOCK_DGRAM`, so a packet starts at its
//! IP header (no link-layer header). Pure and total: any byte string is
//! either a SYN to a port or `None`, never a panic.

/// TCP's protocol number in IPv4's protocol field and IPv6's next header.
const TCP: u8 = 6;
/// The TCP header's flags byte, and the two flags that matter.
const TCP_FLAGS: usize = 13;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
/// Bytes of the TCP header read: ports and flags.
const TCP_NEEDED: usize = TCP_FLAGS + 1;
const IPV6_HEADER: usize = 40;

/// The destination port of a connection attempt: a TCP segment with SYN
/// set and ACK clear (a SYN-ACK is the answer, not an attempt), over IPv4
/// or IPv6. IPv4 fragments after the first carry no TCP header; IPv6
/// packets with extension headers before TCP are not read (loopback TCP
/// does not use them, and the kernel filter passes only what this reads).
pub fn syn_destination(packet: &[u8]) -> Option<u16> {
    let tcp = match packet.first()? >> 4 {
        4 => ipv4_tcp(packet)?,
        6 => ipv6_tcp(packet)?,
        _ => return None,
    };
    if tcp.len() < TCP_NEEDED {
        return None;
    }
    let flags = tcp[TCP_FLAGS];
    (flags & SYN != 0 && flags & ACK == 0).then(|| u16::from_be_bytes([tcp[2], tcp[3]]))
}

/// The TCP segment of an IPv4 packet.
fn ipv4_tcp(p: &[u8]) -> Option<&[u8]> {
    let header = usize::from(p[0] & 0x0f) * 4;
    if header < 20 || p.len() < header || p[9] != TCP {
        return None;
    }
    let fragment_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
    (fragment_offset == 0).then(|| &p[header..])
}

/// The TCP segment of an IPv6 packet whose next header is TCP.
fn ipv6_tcp(p: &[u8]) -> Option<&[u8]> {
    (p.len() >= IPV6_HEADER && p[6] == TCP).then(|| &p[IPV6_HEADER..])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TCP header to `port` with `flags`.
    fn tcp(port: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&port.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    pub(crate) fn ipv4(protocol: u8, segment: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + segment.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&[127, 0, 0, 1]);
        p[16..20].copy_from_slice(&[127, 0, 0, 1]);
        p.extend_from_slice(segment);
        p
    }

    fn ipv6(next: u8, segment: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(segment.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[23] = 1;
        p[39] = 1;
        p.extend_from_slice(segment);
        p
    }

    #[test]
    fn a_syn_names_its_destination_port_over_ipv4_and_ipv6() {
        assert_eq!(syn_destination(&ipv4(TCP, &tcp(8101, SYN))), Some(8101));
        assert_eq!(syn_destination(&ipv6(TCP, &tcp(443, SYN))), Some(443));
        // ECN bits beside SYN do not matter.
        assert_eq!(syn_destination(&ipv4(TCP, &tcp(9, SYN | 0xc0))), Some(9));
    }

    #[test]
    fn answers_and_other_segments_are_not_attempts() {
        for flags in [
            SYN | ACK,
            ACK,
            0x04, /* RST */
            0x14, /* RST-ACK */
            0x11,
        ] {
            assert_eq!(
                syn_destination(&ipv4(TCP, &tcp(80, flags))),
                None,
                "{flags:#x}"
            );
            assert_eq!(
                syn_destination(&ipv6(TCP, &tcp(80, flags))),
                None,
                "{flags:#x}"
            );
        }
    }

    #[test]
    fn other_protocols_are_not_read() {
        // UDP and ICMP carry bytes where a TCP header would be.
        assert_eq!(syn_destination(&ipv4(17, &tcp(53, SYN))), None);
        assert_eq!(syn_destination(&ipv4(1, &tcp(53, SYN))), None);
        assert_eq!(syn_destination(&ipv6(17, &tcp(53, SYN))), None);
        // An IPv6 hop-by-hop header before TCP: not read (see the doc).
        assert_eq!(syn_destination(&ipv6(0, &tcp(53, SYN))), None);
        // Neither IPv4 nor IPv6 (an ARP-like first byte).
        let mut odd = ipv4(TCP, &tcp(80, SYN));
        odd[0] = 0x00;
        assert_eq!(syn_destination(&odd), None);
    }

    #[test]
    fn later_fragments_and_ip_options_are_handled() {
        let mut frag = ipv4(TCP, &tcp(80, SYN));
        frag[7] = 1; // offset 8 bytes: no TCP header here
        assert_eq!(syn_destination(&frag), None);
        // A 24-byte IPv4 header (one option word): TCP starts later.
        let mut p = ipv4(TCP, &[]);
        p[0] = 0x46;
        p.extend_from_slice(&[1, 1, 1, 1]);
        p.extend_from_slice(&tcp(7000, SYN));
        assert_eq!(syn_destination(&p), Some(7000));
    }

    #[test]
    fn short_and_garbage_packets_are_nothing() {
        let whole = ipv4(TCP, &tcp(80, SYN));
        for n in 0..whole.len() - 6 {
            assert_eq!(syn_destination(&whole[..n]), None, "{n} bytes");
        }
        let whole6 = ipv6(TCP, &tcp(80, SYN));
        for n in 0..IPV6_HEADER + TCP_NEEDED {
            assert_eq!(syn_destination(&whole6[..n]), None, "{n} bytes");
        }
        // An IPv4 header length below the minimum, or past the end.
        let mut bad = whole.clone();
        bad[0] = 0x42;
        assert_eq!(syn_destination(&bad), None);
        bad[0] = 0x4f;
        assert_eq!(syn_destination(&bad[..40]), None);
        // Every byte string of a few bytes: no panic.
        for b in 0..=255u8 {
            let _ = syn_destination(&[b]);
            let _ = syn_destination(&[b; 21]);
            let _ = syn_destination(&[b; 60]);
        }
    }
}
