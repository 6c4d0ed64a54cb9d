//! Free ports for servers a test starts, chosen so nothing else takes them meanwhile.
//!
//! A port from binding `127.0.0.1:0` is in the kernel's ephemeral range, which is where the
//! kernel also finds the next port-0 bind and the local port of every outgoing connection. Such
//! a port, reserved by a test and still unbound, can be given to another test's server, taken
//! by a client's connection, or even connected to itself (TCP simultaneous open) by a client
//! polling it. So [`free_port`] picks below that range, from a random start, and never hands
//! out a port twice in one process.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, PoisonError};

/// Where the search starts below the ephemeral range (Linux's default range starts at 32768).
const LOWEST: u16 = 20000;
const DEFAULT_EPHEMERAL_START: u16 = 32768;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port on 127.0.0.1 that was free a moment ago: below the kernel's ephemeral range, so no
/// port-0 bind or outgoing connection takes it, and not handed out before by this process, so
/// parallel tests do not share it.
///
/// # Panics
/// If nothing can bind to the loopback interface, when no test needing a port can run anyway.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let end = ephemeral_start().max(LOWEST + 1);
    let span = end - LOWEST;
    let offset = u16::try_from(RandomState::new().hash_one(std::process::id()) % u64::from(span))
        .unwrap_or(0);
    let below_ephemeral = (0..span).map(|i| LOWEST + (offset + i) % span);
    for port in below_ephemeral {
        if !handed_out.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    // Everything below the range is taken: fall back to one the kernel picks.
    loop {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
            Ok(addr) if handed_out.insert(addr.port()) => return addr.port(),
            Ok(_) => {}
            Err(e) => panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"),
        }
    }
}

/// The first port of `net.ipv4.ip_local_port_range`.
fn ephemeral_start() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_never_repeat() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        let start = ephemeral_start();
        if start > LOWEST + 200 {
            assert!(
                ports.iter().all(|&p| (LOWEST..start).contains(&p)),
                "{ports:?}"
            );
        }
    }
}
