//! A radix heap: the monotone priority queue Dijkstra's search needs.
//!
//! Dijkstra with non-negative weights never pushes a key smaller than the
//! last one it popped, so a queue may rely on that. A radix heap keeps
//! entries in 65 buckets by the highest bit in which their key differs
//! from the last popped key (bucket 0: equal to it). A push is an append;
//! a pop takes from bucket 0, or first empties the lowest non-empty bucket
//! into lower ones around that bucket's minimum — each entry moves at most
//! 64 times, in practice a few. Against a binary heap this trades
//! `log n` scattered sift steps per operation for sequential appends.
//!
//! Keys here are the bit patterns of non-negative finite (or infinite)
//! `f64`s, which order like the numbers.

/// A min-queue of `(key, value)` for keys that never go below the last
/// popped key.
pub(crate) struct RadixHeap<V> {
    last: u64,
    buckets: [Vec<(u64, V)>; 65],
}

impl<V: Copy> RadixHeap<V> {
    /// An empty queue whose keys start at 0.
    pub(crate) fn new() -> Self {
        Self { last: 0, buckets: std::array::from_fn(|_| Vec::new()) }
    }

    fn bucket(last: u64, key: u64) -> usize {
        (u64::BITS - (key ^ last).leading_zeros()) as usize
    }

    /// Adds `value` at `key`.
    ///
    /// # Panics
    /// In debug builds, if `key` is below the last popped key (the one
    /// ordering a radix heap cannot keep).
    pub(crate) fn push(&mut self, key: u64, value: V) {
        debug_assert!(key >= self.last, "a monotone queue got {key} after popping {}", self.last);
        self.buckets[Self::bucket(self.last, key)].push((key, value));
    }

    /// Removes an entry of the smallest key (among equal keys, any).
    pub(crate) fn pop(&mut self) -> Option<(u64, V)> {
        if self.buckets[0].is_empty() {
            let i = self.buckets.iter().position(|b| !b.is_empty())?;
            let moved = std::mem::take(&mut self.buckets[i]);
            self.last = moved.iter().map(|&(k, _)| k).min().expect("a non-empty bucket");
            // Every key of bucket `i` agrees with the new minimum above bit
            // `i - 1`, so each lands in a bucket below `i`.
            for &(k, v) in &moved {
                self.buckets[Self::bucket(self.last, k)].push((k, v));
            }
            // Keep the emptied bucket's allocation for later pushes.
            let mut moved = moved;
            moved.clear();
            self.buckets[i] = moved;
        }
        self.buckets[0].pop()
    }

    /// Entries queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[derive(Clone, Debug)]
    enum Op {
        /// Push the last popped key plus this.
        Push(u64, u32),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Small steps (ties and near keys) and jumps across many bits.
            (0u64..4, any::<u32>()).prop_map(|(d, v)| Op::Push(d, v)),
            (any::<u64>(), any::<u32>()).prop_map(|(d, v)| Op::Push(d >> (d % 64), v)),
            Just(Op::Pop),
        ]
    }

    proptest! {
        /// Against a binary heap: the same keys come out in the same order,
        /// and the same values for each key.
        #[test]
        fn pops_like_a_binary_heap(ops in prop::collection::vec(op(), 0..400)) {
            let mut radix = RadixHeap::new();
            let mut reference: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
            let mut last = 0u64;
            let (mut got, mut want) = (Vec::new(), Vec::new());
            let mut drain = |radix: &mut RadixHeap<u32>, reference: &mut BinaryHeap<Reverse<(u64, u32)>>, last: &mut u64| {
                let a = radix.pop();
                let b = reference.pop().map(|Reverse(e)| e);
                prop_assert_eq!(a.map(|(k, _)| k), b.map(|(k, _)| k));
                if let (Some(a), Some(b)) = (a, b) {
                    *last = a.0;
                    got.push(a);
                    want.push(b);
                }
                Ok(())
            };
            for op in ops {
                match op {
                    Op::Push(d, v) => {
                        let key = last.saturating_add(d);
                        radix.push(key, v);
                        reference.push(Reverse((key, v)));
                    }
                    Op::Pop => drain(&mut radix, &mut reference, &mut last)?,
                }
                prop_assert_eq!(radix.len(), reference.len());
            }
            while !reference.is_empty() {
                drain(&mut radix, &mut reference, &mut last)?;
            }
            prop_assert!(radix.pop().is_none());
            // Equal keys may come out in another order: compare as multisets.
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn float_bits_order_like_the_numbers() {
        let mut heap = RadixHeap::new();
        for (i, d) in [3.5f64, 0.0, 1e-300, 2.0, f64::INFINITY, 1e300, 0.5].into_iter().enumerate() {
            heap.push(d.to_bits(), i);
        }
        let order: Vec<f64> = std::iter::from_fn(|| heap.pop()).map(|(k, _)| f64::from_bits(k)).collect();
        assert_eq!(order, [0.0, 1e-300, 0.5, 2.0, 3.5, 1e300, f64::INFINITY]);
    }
}
