//! Cross-polytope hashing and query-directed multi-probe order.
//!
//! After a random rotation, a vector's cross-polytope hash is its largest coordinate in
//! absolute value together with that coordinate's sign (one of 256 codes). A table keys its
//! buckets by the pair of codes under two independent rotations (65,536 buckets). For a
//! query, the codes of one rotation are ranked by their coordinate magnitude: the gap to
//! the largest magnitude is a cost, and a bucket's cost is the sum of its two codes' gaps.
//! A query probes the cheapest buckets over all tables at once (all below a cost threshold).

use super::embedding::DIM;

/// How many codes per rotation the probe sequence may reach.
pub(crate) const DEPTH: usize = 32;

/// The cross-polytope code of rotated coordinates `y`.
#[inline(always)]
pub(crate) fn code(y: &[f32]) -> u8 {
    let mut best = 0usize;
    let mut best_abs = -1.0f32;
    for (i, &v) in y.iter().enumerate().take(DIM) {
        if v.abs() > best_abs {
            best_abs = v.abs();
            best = i;
        }
    }
    let neg = y.get(best).is_some_and(|&v| v < 0.0);
    (best as u8 & 0x7f) | if neg { 0x80 } else { 0 }
}

/// The bucket key of one table from its two rotations' coordinates.
#[inline(always)]
pub(crate) fn bucket_key(y0: &[f32], y1: &[f32]) -> u16 {
    (u16::from(code(y0)) << 8) | u16::from(code(y1))
}

/// The `DEPTH` most likely codes of one rotation, with their costs (ascending).
#[derive(Clone, Copy)]
pub(crate) struct Ranked {
    pub(crate) codes: [u8; DEPTH],
    pub(crate) costs: [f32; DEPTH],
}

#[inline(always)]
pub(crate) fn rank(y: &[f32]) -> Ranked {
    // Sort keys: magnitude bits inverted (so ascending = largest first), then the code.
    let mut order = [0u64; DIM];
    for (i, (o, &v)) in order.iter_mut().zip(y.iter()).enumerate() {
        let c = (i as u8 & 0x7f) | if v < 0.0 { 0x80 } else { 0 };
        *o = (u64::from(!v.abs().to_bits()) << 8) | u64::from(c);
    }
    order.select_nth_unstable(DEPTH - 1);
    let top = &mut order[..DEPTH];
    top.sort_unstable();
    let magnitude = |k: u64| f32::from_bits(!((k >> 8) as u32));
    let max = magnitude(top[0]);
    let mut r = Ranked {
        codes: [0; DEPTH],
        costs: [0.0; DEPTH],
    };
    for (k, &key) in top.iter().enumerate() {
        r.codes[k] = key as u8;
        r.costs[k] = (max - magnitude(key)).max(0.0);
    }
    r
}

/// Chooses up to `budget` (table, bucket key) probes of lowest cost over all tables: every
/// pair whose cost is at most a threshold found by bisection, so that their number is at
/// most `budget` (at least each table's own bucket when `budget` allows).
pub(crate) fn select(ranked: &[(Ranked, Ranked)], budget: usize, out: &mut Vec<(usize, u16)>) {
    out.clear();
    let own = |t: usize, r: &(Ranked, Ranked)| (t, key(r, 0, 0));
    if budget <= ranked.len() {
        out.extend(
            ranked
                .iter()
                .enumerate()
                .take(budget)
                .map(|(t, r)| own(t, r)),
        );
        return;
    }
    let mut lo = 0.0f32; // count(lo) <= budget holds (only the zero-cost pairs)
    let mut hi = ranked
        .iter()
        .map(|(a, b)| a.costs[DEPTH - 1] + b.costs[DEPTH - 1])
        .fold(0.0f32, f32::max);
    if count(ranked, hi) > budget {
        for _ in 0..24 {
            let mid = 0.5 * (lo + hi);
            if count(ranked, mid) <= budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    } else {
        lo = hi;
    }
    for (t, (a, b)) in ranked.iter().enumerate() {
        for i in 0..DEPTH {
            if a.costs[i] > lo {
                break;
            }
            for j in 0..DEPTH {
                if a.costs[i] + b.costs[j] > lo {
                    break;
                }
                out.push((t, (u16::from(a.codes[i]) << 8) | u16::from(b.codes[j])));
            }
        }
    }
    if out.len() > budget {
        // Several zero-cost ties; keep the budget.
        out.truncate(budget);
    }
}

#[inline(always)]
fn key(r: &(Ranked, Ranked), i: usize, j: usize) -> u16 {
    (u16::from(r.0.codes[i]) << 8) | u16::from(r.1.codes[j])
}

/// Number of pairs of cost at most `tau` over all tables (two pointers per table).
fn count(ranked: &[(Ranked, Ranked)], tau: f32) -> usize {
    let mut n = 0;
    for (a, b) in ranked {
        let mut j = DEPTH;
        for i in 0..DEPTH {
            while j > 0 && a.costs[i] + b.costs[j - 1] > tau {
                j -= 1;
            }
            if j == 0 {
                break;
            }
            n += j;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_is_a_cost_threshold_and_starts_at_the_hash() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let ys: Vec<Vec<f32>> = (0..4)
            .map(|_| (0..DIM).map(|_| rng.gaussian() as f32).collect())
            .collect();
        let ranked = vec![(rank(&ys[0]), rank(&ys[1])), (rank(&ys[2]), rank(&ys[3]))];
        let mut out = Vec::new();
        select(&ranked, 2, &mut out);
        assert_eq!(
            out,
            vec![
                (0, bucket_key(&ys[0], &ys[1])),
                (1, bucket_key(&ys[2], &ys[3]))
            ]
        );
        select(&ranked, 1, &mut out);
        assert_eq!(out.len(), 1);
        let cost = |t: usize, i: usize, j: usize| ranked[t].0.costs[i] + ranked[t].1.costs[j];
        for budget in [3, 10, 100, 1000] {
            select(&ranked, budget, &mut out);
            assert!(out.len() <= budget && out.len() >= 2);
            let mut dedup = out.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(dedup.len(), out.len());
            // Every chosen pair costs no more than every pair left out.
            let mut chosen_max = 0.0f32;
            let mut left_min = f32::MAX;
            for (t, r) in ranked.iter().enumerate() {
                for i in 0..DEPTH {
                    for j in 0..DEPTH {
                        let k = key(r, i, j);
                        if out.contains(&(t, k)) {
                            chosen_max = chosen_max.max(cost(t, i, j));
                        } else {
                            left_min = left_min.min(cost(t, i, j));
                        }
                    }
                }
            }
            assert!(chosen_max <= left_min, "budget {budget}");
        }
        select(&ranked, 1_000_000, &mut out);
        assert_eq!(out.len(), 2 * DEPTH * DEPTH);
    }
}
