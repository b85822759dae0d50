//! Deployment groups: providers declared as deployments of one group
//! (`group = "default"` on `[[providers]]`), as a gateway balances one model
//! over several deployments (LiteLLM's model groups). A move between two
//! deployments of one group is not a failover to another model: the
//! analysis counts it as a `group_move`, and LiteLLM reports it as a retry.

/// Which group each provider belongs to. A provider without a group is a
/// group of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// Group id per provider index.
    of: Vec<u16>,
    declared: bool,
}

impl Groups {
    /// `groups[i]` is provider `i`'s group; providers beyond the slice have none.
    pub fn new(groups: &[Option<String>], providers: usize) -> Self {
        let mut names: Vec<&str> = Vec::new();
        let mut of = Vec::with_capacity(providers);
        for i in 0..providers {
            let id = match groups.get(i).and_then(Option::as_deref) {
                Some(g) => match names.iter().position(|n| *n == g) {
                    Some(j) => j,
                    None => {
                        names.push(g);
                        names.len() - 1
                    }
                },
                None => {
                    names.push("");
                    names.len() - 1
                }
            };
            of.push(id as u16);
        }
        // Unnamed placeholders never match a real group: "" is not a valid
        // group name (validation refuses it), and each gets its own slot.
        Groups {
            of,
            declared: groups.iter().any(Option::is_some),
        }
    }

    /// Whether the scenario declares any group.
    pub fn declared(&self) -> bool {
        self.declared
    }

    /// Whether `a` and `b` are two deployments of one declared group.
    pub fn same(&self, a: u16, b: u16) -> bool {
        a != b
            && match (self.of.get(usize::from(a)), self.of.get(usize::from(b))) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }
    }

    /// How many groups the providers in `bits` (`LedgerView` bits) span.
    pub fn count(&self, bits: u64) -> u32 {
        let mut seen: u128 = 0;
        let mut beyond = 0;
        for p in (0..64).filter(|b| bits & (1u64 << b) != 0) {
            match self.of.get(p) {
                Some(&g) if g < 128 => seen |= 1 << g,
                _ => beyond += 1,
            }
        }
        seen.count_ones() + beyond
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_of_one_group_are_one_group_and_the_rest_their_own() {
        // flash and qwen deploy "default"; r1 has no group; p3 is beyond the slice.
        let g = Groups::new(&[Some("default".into()), Some("default".into()), None], 4);
        assert!(g.declared());
        assert!(g.same(0, 1) && g.same(1, 0));
        assert!(!g.same(0, 0) && !g.same(0, 2) && !g.same(2, 3) && !g.same(0, 9));
        assert_eq!(g.count(0b0011), 1);
        assert_eq!(g.count(0b0111), 2);
        assert_eq!(g.count(0b1111), 3);
        assert_eq!(g.count(0), 0);
        let none = Groups::new(&[], 3);
        assert!(!none.declared());
        assert_eq!(none.count(0b111), 3);
        assert!(!none.same(0, 1));
    }
}
