//! Choosing the port: Packer tries the ports of `[http_port_min, http_port_max]` in random order
//! and takes the first that binds, so parallel builds on one host do not collide.

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

use crate::Error;

/// Binds the first free port of the range, tried in random order; `0..=0` is any free port.
pub(crate) async fn bind(address: IpAddr, min: u16, max: u16) -> Result<TcpListener, Error> {
    if min > max {
        return Err(Error::PortRange { min, max });
    }
    if max == 0 {
        return TcpListener::bind(SocketAddr::new(address, 0))
            .await
            .map_err(|source| Error::Listen { address, source });
    }
    // Port 0 would mean "any port", which a range does not ask for.
    let min = min.max(1);
    let mut last = None;
    for port in shuffled(min, max) {
        match TcpListener::bind(SocketAddr::new(address, port)).await {
            Ok(listener) => return Ok(listener),
            // No port will bind to an address this host does not have.
            Err(source) if source.kind() == io::ErrorKind::AddrNotAvailable => {
                return Err(Error::Listen { address, source });
            }
            Err(e) => {
                tracing::debug!(%address, port, "cannot bind: {e}");
                last = Some(e);
            }
        }
    }
    let source = last.unwrap_or_else(|| io::Error::other("no port tried"));
    if min == max {
        Err(Error::PortBusy {
            address,
            port: min,
            source,
        })
    } else {
        Err(Error::NoFreePort {
            address,
            min,
            max,
            source,
        })
    }
}

/// The ports `min..=max` in random order (Fisher-Yates on a splitmix64 sequence seeded by the
/// standard library's per-process random keys: no cryptographic strength is needed).
fn shuffled(min: u16, max: u16) -> Vec<u16> {
    let mut ports: Vec<u16> = (min..=max).collect();
    let mut state = RandomState::new().hash_one(std::time::SystemTime::now());
    for i in (1..ports.len()).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // `i + 1` is at most 65536, so both conversions are lossless.
        let j = usize::try_from(z % (i as u64 + 1)).unwrap_or(0);
        ports.swap(i, j);
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_is_a_permutation_of_the_range() {
        let mut ports = shuffled(8000, 9000);
        assert_eq!(ports.len(), 1001);
        let first = ports.clone();
        ports.sort_unstable();
        assert_eq!(ports, (8000..=9000).collect::<Vec<_>>());
        // Not the identity (the chance that a random permutation of 1001 is: nil).
        assert_ne!(first, ports);
        assert_eq!(shuffled(8080, 8080), vec![8080]);
    }
}
