//! Addresses: one InternalIP per node and a pod block (its `podCIDR`) per
//! node, from which each pod gets its own IP.

use std::net::Ipv4Addr;

/// A node's pod block: the network address and prefix length, with the
/// addresses in use. The first address after the network address is the
/// block's gateway and the last one its broadcast address; pods get the rest.
#[derive(Debug, Clone)]
pub(crate) struct PodBlock {
    network: u32,
    prefix: u8,
    used: Vec<u64>,
    next: u32,
}

impl PodBlock {
    /// The block `network/prefix` (host bits of `network` are cleared).
    pub(crate) fn new(network: Ipv4Addr, prefix: u8) -> PodBlock {
        let prefix = prefix.clamp(8, 30);
        let mask = u32::MAX << (32 - u32::from(prefix));
        PodBlock {
            network: u32::from(network) & mask,
            prefix,
            used: Vec::new(),
            next: 2,
        }
    }

    fn size(&self) -> u32 {
        1u32 << (32 - u32::from(self.prefix))
    }

    /// The network address.
    pub(crate) fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// `a.b.c.d/p`, for `spec.podCIDR`.
    pub(crate) fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).wrapping_sub(self.network);
        (off >= 2 && off < self.size() - 1).then_some(off)
    }

    fn is_used(&self, off: u32) -> bool {
        let (word, bit) = ((off / 64) as usize, off % 64);
        self.used.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, off: u32, on: bool) {
        let (word, bit) = ((off / 64) as usize, off % 64);
        if self.used.len() <= word {
            self.used.resize(word + 1, 0);
        }
        if on {
            self.used[word] |= 1 << bit;
        } else {
            self.used[word] &= !(1 << bit);
        }
    }

    /// A free address, handed out round-robin so a released address is not
    /// reused at once. `None` when the block is full.
    pub(crate) fn allocate(&mut self) -> Option<Ipv4Addr> {
        let usable = self.size() - 3;
        for i in 0..usable {
            let off = 2 + (self.next - 2 + i) % usable;
            if !self.is_used(off) {
                self.set(off, true);
                self.next = 2 + (off - 2 + 1) % usable;
                return Some(Ipv4Addr::from(self.network + off));
            }
        }
        None
    }

    /// Takes `ip` if it belongs to the block and is free (a pod that already
    /// had it before the fleet restarted keeps it).
    pub(crate) fn claim(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(off) if !self.is_used(off) => {
                self.set(off, true);
                true
            }
            _ => false,
        }
    }

    /// Gives `ip` back (ignored when it is not from this block).
    pub(crate) fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset(ip) {
            self.set(off, false);
        }
    }
}

/// Parses `a.b.c.d/p` into the network address and prefix length.
pub(crate) fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Some((Ipv4Addr::from(u32::from(ip) & mask), prefix))
}

/// `base + n`, or `None` past 255.255.255.255.
pub(crate) fn offset_ip(base: Ipv4Addr, n: u64) -> Option<Ipv4Addr> {
    let v = u64::from(u32::from(base)).checked_add(n)?;
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_unique_addresses_round_robin() {
        let mut b = PodBlock::new(Ipv4Addr::new(10, 128, 3, 77), 24);
        assert_eq!(b.cidr(), "10.128.3.0/24");
        let first = b.allocate();
        assert_eq!(first, Some(Ipv4Addr::new(10, 128, 3, 2)));
        let second = b.allocate();
        assert_eq!(second, Some(Ipv4Addr::new(10, 128, 3, 3)));
        b.release(Ipv4Addr::new(10, 128, 3, 2));
        assert_eq!(b.allocate(), Some(Ipv4Addr::new(10, 128, 3, 4)));
        let mut all = std::collections::HashSet::new();
        while let Some(ip) = b.allocate() {
            assert!(all.insert(ip), "{ip} twice");
        }
        // 253 usable addresses: .2 to .254; .3 and .4 were taken before.
        assert_eq!(all.len(), 253 - 2);
        assert!(!all.contains(&Ipv4Addr::new(10, 128, 3, 255)));
        assert!(!all.contains(&Ipv4Addr::new(10, 128, 3, 1)));
        assert_eq!(b.allocate(), None);
    }

    #[test]
    fn claims_only_free_addresses_of_the_block() {
        let mut b = PodBlock::new(Ipv4Addr::new(10, 128, 0, 0), 24);
        assert!(b.claim(Ipv4Addr::new(10, 128, 0, 9)));
        assert!(!b.claim(Ipv4Addr::new(10, 128, 0, 9)));
        assert!(!b.claim(Ipv4Addr::new(10, 128, 1, 9)));
        assert!(!b.claim(Ipv4Addr::new(10, 128, 0, 1)));
        b.release(Ipv4Addr::new(10, 128, 0, 9));
        assert!(b.claim(Ipv4Addr::new(10, 128, 0, 9)));
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.128.7.0/24"),
            Some((Ipv4Addr::new(10, 128, 7, 0), 24))
        );
        assert_eq!(
            parse_cidr("10.128.7.9/24"),
            Some((Ipv4Addr::new(10, 128, 7, 0), 24))
        );
        assert_eq!(parse_cidr("0.0.0.0/0"), Some((Ipv4Addr::UNSPECIFIED, 0)));
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd00::/64", "x/24"] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(
            offset_ip(Ipv4Addr::new(10, 64, 0, 0), 300),
            Some(Ipv4Addr::new(10, 64, 1, 44))
        );
        assert_eq!(offset_ip(Ipv4Addr::new(255, 255, 255, 255), 1), None);
    }
}
