//! The Linux packet socket: `AF_PACKET`, `SOCK_DGRAM` (packets start at the
//! IP header), bound to the loopback interface, with a kernel filter that
//! passes only TCP SYNs, so that a busy loopback costs one copy per new
//! connection, not one per packet.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Bytes kept of each packet: the IP header and TCP's ports and flags.
const SNAP: u32 = 128;
/// Room for a burst of SYNs while the thread is not scheduled.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;
/// `linux/filter.h`'s ancillary load of the packet type (not in libc).
const SKF_AD_PKTTYPE: u32 = (-0x1000i32) as u32 + 4;

/// Why the socket could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// EPERM or EACCES: the process lacks CAP_NET_RAW.
    NoPrivilege,
    /// Anything else, with the step that failed.
    Other(String),
}

pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// Opens the socket on the interface named `interface`, filtered to TCP
    /// SYNs, with receive calls that give up after `timeout`.
    pub fn open(interface: &str, timeout: Duration) -> Result<PacketSocket, OpenError> {
        let name = std::ffi::CString::new(interface).expect("no NUL in an interface name");
        // SAFETY: a C string that outlives the call.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(OpenError::Other(format!(
                "there is no network interface named {interface}"
            )));
        }
        // Protocol 0 receives nothing until the bind below, so no packet
        // arrives before the filter is attached.
        // SAFETY: plain socket(2); the fd is owned at once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => OpenError::NoPrivilege,
                _ => OpenError::Other(format!("opening a packet socket: {e}")),
            });
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let socket = PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        let step = |what: &str, r: io::Result<()>| {
            r.map_err(|e| OpenError::Other(format!("{what} on the packet socket: {e}")))
        };
        step("attaching the SYN filter", socket.attach_filter())?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        step(
            "setting the receive timeout",
            socket.set(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv),
        )?;
        // A smaller buffer than asked (rmem_max) still works: drops are counted.
        let _ = socket.set(libc::SOL_SOCKET, libc::SO_RCVBUF, &RECEIVE_BUFFER);
        step("binding to the interface", socket.bind(index as i32))?;
        Ok(socket)
    }

    fn set<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live T of the size given.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn attach_filter(&self) -> io::Result<()> {
        let mut program = syn_filter();
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_mut_ptr(),
        };
        self.set(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    fn bind(&self, index: i32) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = index;
        // SAFETY: addr is a sockaddr_ll of the length given.
        let r = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One packet into `buf` (cut to its length) and its `sll_pkttype`;
    /// `None` when the timeout passed (or a signal came) first, or, with
    /// `wait` false, when none is queued.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<Option<(usize, u8)>> {
        // SAFETY: sockaddr_ll is plain data.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: buf and from are live and sized as said.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some((n as usize, from.sll_pkttype)))
    }

    /// Packets that passed the filter but found the receive buffer full,
    /// since the last call (the kernel resets the count on reading).
    pub fn drops(&self) -> io::Result<u32> {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: stats is a live tpacket_stats of the length given.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stats.tp_drops)
    }
}

/// Classic BPF: keep TCP segments with SYN set and ACK clear over IPv4
/// (first fragments) or IPv6 (TCP as the next header), not the loopback's
/// outgoing copy; `packet::syn_destination` checks the same again.
fn syn_filter() -> Vec<libc::sock_filter> {
    use bpf::*;
    let outgoing = u32::from(libc::PACKET_OUTGOING);
    // Jump offsets count the instructions skipped after the current one:
    // target index − (index + 1). KEEP is 18, DROP is 19.
    vec![
        /* 0 */ stmt(LD | W | ABS, SKF_AD_PKTTYPE),
        /* 1 */ jump(JEQ, outgoing, 17, 0), // → DROP
        /* 2 */ stmt(LD | B | ABS, 0),
        /* 3 */ stmt(ALU | AND, 0xf0),
        /* 4 */ jump(JEQ, 0x40, 1, 0), // → V4
        /* 5 */ jump(JEQ, 0x60, 7, 13), // → V6, else DROP
        /* 6 V4 */ stmt(LD | B | ABS, 9),
        /* 7 */ jump(JEQ, 6, 0, 11), // not TCP → DROP
        /* 8 */ stmt(LD | H | ABS, 6),
        /* 9 */ jump(JSET, 0x1fff, 9, 0), // a later fragment → DROP
        /* 10 */ stmt(LDX | B | MSH, 0), // X = IPv4 header length
        /* 11 */ stmt(LD | B | IND, 13),
        /* 12 */ stmt(JMP | JA, 3), // → FLAGS
        /* 13 V6 */ stmt(LD | B | ABS, 6),
        /* 14 */ jump(JEQ, 6, 0, 4), // not TCP → DROP
        /* 15 */ stmt(LD | B | ABS, 40 + 13),
        /* 16 FLAGS */ jump(JSET, 0x10, 2, 0), // ACK → DROP
        /* 17 */ jump(JSET, 0x02, 0, 1), // SYN → KEEP, else DROP
        /* 18 KEEP */ stmt(RET, SNAP),
        /* 19 DROP */ stmt(RET, 0),
    ]
}

/// Classic BPF opcodes (`linux/bpf_common.h`) and instruction builders.
mod bpf {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MSH: u16 = 0xa0;
    pub const AND: u16 = 0x50;
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = JMP | 0x10;
    pub const JSET: u16 = JMP | 0x40;

    pub fn stmt(code: u16, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    pub fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter { code, jt, jf, k }
    }
}
