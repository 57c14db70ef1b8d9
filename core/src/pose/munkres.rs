// SPDX-License-Identifier: MPL-2.0
//! trt_pose's Munkres variant, ported step by step so that ties resolve exactly as upstream.
//!
//! The step structure (shape-dependent reductions, single-pass prime scan, float32 updates)
//! is specified in `specs/trt_pose_parse.md` §7. A textbook or Jonker–Volgenant solver finds
//! an equally optimal but different matching on exact ties, so none is used here.

const NONE: i32 = -1;

/// Reusable workspace: solving allocates only when a larger matrix than before arrives.
#[derive(Default, Debug)]
pub struct Munkres {
    cost: Vec<f32>,
    star_col_of_row: Vec<i32>,
    star_row_of_col: Vec<i32>,
    prime_col_of_row: Vec<i32>,
    row_covered: Vec<bool>,
    col_covered: Vec<bool>,
    /// `m` for uncovered columns, `0` for covered ones (the step-5 subtraction per column).
    col_delta: Vec<f32>,
    /// `0` for uncovered columns, `+inf` for covered ones. Costs are never negative, so
    /// `cost + mask` is exactly `cost` where uncovered and `inf` where covered: "uncovered
    /// zero" and "uncovered minimum" become plain arithmetic.
    col_mask: Vec<f32>,
}

impl Munkres {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maximises the total of `scores` (`nr × nc`, row-major) and returns, per row, the
    /// matched column or -1.
    ///
    /// Scores must be finite; callers sanitize them (non-finite costs have no optimum).
    pub fn solve_max(&mut self, scores: &[f32], nr: usize, nc: usize) -> &[i32] {
        debug_assert_eq!(scores.len(), nr * nc);
        self.cost.clear();
        self.cost.extend(scores.iter().map(|s| -s));
        self.reset(nr, nc);
        if nr > 0 && nc > 0 {
            self.run(nr, nc);
        }
        &self.star_col_of_row[..nr]
    }

    fn reset(&mut self, nr: usize, nc: usize) {
        for v in [&mut self.star_col_of_row, &mut self.prime_col_of_row] {
            v.clear();
            v.resize(nr, NONE);
        }
        self.star_row_of_col.clear();
        self.star_row_of_col.resize(nc, NONE);
        self.row_covered.clear();
        self.row_covered.resize(nr, false);
        self.col_covered.clear();
        self.col_covered.resize(nc, false);
        self.col_delta.clear();
        self.col_delta.resize(nc, 0.0);
        self.col_mask.clear();
        self.col_mask.resize(nc, 0.0);
    }

    fn set_col_covered(&mut self, j: usize, covered: bool) {
        self.col_covered[j] = covered;
        self.col_mask[j] = if covered { f32::INFINITY } else { 0.0 };
    }

    fn run(&mut self, nr: usize, nc: usize) {
        if nc >= nr {
            self.subtract_row_minima(nr, nc);
        }
        if nc <= nr {
            self.subtract_col_minima(nr, nc);
        }
        self.star_initial_zeros(nr, nc);
        let target = nr.min(nc);
        // With float32 rounding every step 5 still creates an exact zero, so this ends;
        // the bound only protects against pathological inputs.
        let mut budget = 64 * (nr + nc) * (nr + nc) * (nr + nc) + 1024;
        while self.cover_star_columns() < target {
            loop {
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    return;
                }
                match self.prime_uncovered_zeros(nr, nc) {
                    Some((r, c)) => {
                        self.augment(r, c);
                        break;
                    }
                    None => self.adjust(nr, nc),
                }
            }
        }
    }

    fn subtract_row_minima(&mut self, nr: usize, nc: usize) {
        for row in self.cost.chunks_exact_mut(nc).take(nr) {
            let mut min = row[0];
            for &v in &row[1..] {
                if v < min {
                    min = v;
                }
            }
            for v in row.iter_mut() {
                *v -= min;
            }
        }
    }

    fn subtract_col_minima(&mut self, nr: usize, nc: usize) {
        for j in 0..nc {
            let mut min = self.cost[j];
            for i in 1..nr {
                let v = self.cost[i * nc + j];
                if v < min {
                    min = v;
                }
            }
            for i in 0..nr {
                self.cost[i * nc + j] -= min;
            }
        }
    }

    /// Step 1: star each zero with no star in its row or column, in raster order.
    fn star_initial_zeros(&mut self, nr: usize, nc: usize) {
        for i in 0..nr {
            for j in 0..nc {
                if self.star_col_of_row[i] == NONE
                    && self.star_row_of_col[j] == NONE
                    && self.cost[i * nc + j] == 0.0
                {
                    self.star_col_of_row[i] = j as i32;
                    self.star_row_of_col[j] = i as i32;
                }
            }
        }
    }

    /// Step 2: covers the starred columns and returns how many there are.
    fn cover_star_columns(&mut self) -> usize {
        let mut count = 0;
        for j in 0..self.star_row_of_col.len() {
            if self.star_row_of_col[j] != NONE {
                self.set_col_covered(j, true);
                count += 1;
            }
        }
        count
    }

    /// Step 3: one raster pass priming uncovered zeros; returns a prime with no star in its row.
    fn prime_uncovered_zeros(&mut self, nr: usize, nc: usize) -> Option<(usize, usize)> {
        for i in 0..nr {
            if self.row_covered[i] {
                continue;
            }
            let row = &self.cost[i * nc..(i + 1) * nc];
            let zero = row
                .iter()
                .zip(&self.col_mask)
                .position(|(&v, &m)| v + m == 0.0);
            if let Some(j) = zero {
                self.prime_col_of_row[i] = j as i32;
                let star = self.star_col_of_row[i];
                if star == NONE {
                    return Some((i, j));
                }
                // The rest of this row is now covered: the single pass moves on.
                self.row_covered[i] = true;
                self.set_col_covered(star as usize, false);
            }
        }
        None
    }

    /// Step 4: flips the alternating star/prime path that starts at the prime `(r, c)`.
    fn augment(&mut self, mut r: usize, mut c: usize) {
        loop {
            let star_row = self.star_row_of_col[c];
            if star_row == NONE {
                break;
            }
            let star_row = star_row as usize;
            self.star_col_of_row[star_row] = NONE;
            self.star_col_of_row[r] = c as i32;
            self.star_row_of_col[c] = r as i32;
            r = star_row;
            c = self.prime_col_of_row[star_row] as usize;
        }
        self.star_col_of_row[r] = c as i32;
        self.star_row_of_col[c] = r as i32;
        self.row_covered.fill(false);
        self.col_covered.fill(false);
        self.col_mask.fill(0.0);
        self.prime_col_of_row.fill(NONE);
    }

    /// Step 5: moves the smallest uncovered value `m` from uncovered to covered cells.
    fn adjust(&mut self, nr: usize, nc: usize) {
        // The minimum is exact whatever the order, so eight independent lanes are fine.
        let mut lanes = [f32::INFINITY; 8];
        for i in 0..nr {
            if self.row_covered[i] {
                continue;
            }
            let row = &self.cost[i * nc..(i + 1) * nc];
            let mut chunks = row.chunks_exact(8).zip(self.col_mask.chunks_exact(8));
            for (v, m) in &mut chunks {
                for l in 0..8 {
                    let x = v[l] + m[l];
                    lanes[l] = if x < lanes[l] { x } else { lanes[l] };
                }
            }
            let tail = nc - nc % 8;
            for (v, m) in row[tail..].iter().zip(&self.col_mask[tail..]) {
                let x = v + m;
                lanes[0] = if x < lanes[0] { x } else { lanes[0] };
            }
        }
        let min = lanes
            .iter()
            .copied()
            .fold(f32::INFINITY, |a, b| if b < a { b } else { a });
        for (delta, &covered) in self.col_delta.iter_mut().zip(&self.col_covered) {
            *delta = if covered { 0.0 } else { min };
        }
        // Upstream adds m to covered rows, then subtracts m from uncovered columns, each
        // rounded. Adding or subtracting 0.0 is exact, so whole rows update without branches.
        for (row, &row_covered) in self.cost.chunks_exact_mut(nc).zip(&self.row_covered) {
            if row_covered {
                for (v, &d) in row.iter_mut().zip(&self.col_delta) {
                    *v = (*v + min) - d;
                }
            } else {
                for (v, &d) in row.iter_mut().zip(&self.col_delta) {
                    *v -= d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force_best(scores: &[f32], nr: usize, nc: usize) -> f32 {
        // Enumerates injective maps from the smaller side; fine for tiny matrices.
        fn rec(
            scores: &[f32],
            nr: usize,
            nc: usize,
            row: usize,
            used: &mut Vec<bool>,
            transpose: bool,
        ) -> f32 {
            let (rows, cols) = if transpose { (nc, nr) } else { (nr, nc) };
            if row == rows {
                return 0.0;
            }
            let mut best = f32::NEG_INFINITY;
            for c in 0..cols {
                if used[c] {
                    continue;
                }
                used[c] = true;
                let s = if transpose {
                    scores[c * nc + row]
                } else {
                    scores[row * nc + c]
                };
                best = best.max(s + rec(scores, nr, nc, row + 1, used, transpose));
                used[c] = false;
            }
            best
        }
        let transpose = nr > nc;
        let cols = if transpose { nr } else { nc };
        rec(scores, nr, nc, 0, &mut vec![false; cols], transpose)
    }

    #[test]
    fn finds_an_optimal_matching_for_all_shapes() {
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            ((state >> 8) as f32 / (1 << 24) as f32) * 2.0 - 1.0
        };
        let mut m = Munkres::new();
        for nr in 1..=5 {
            for nc in 1..=5 {
                for _ in 0..20 {
                    let scores: Vec<f32> = (0..nr * nc).map(|_| next()).collect();
                    let stars = m.solve_max(&scores, nr, nc).to_vec();
                    let mut used = vec![false; nc];
                    let mut total = 0.0f32;
                    let mut matched = 0;
                    for (r, &c) in stars.iter().enumerate() {
                        if c >= 0 {
                            assert!(!used[c as usize], "column used twice");
                            used[c as usize] = true;
                            total += scores[r * nc + c as usize];
                            matched += 1;
                        }
                    }
                    assert_eq!(matched, nr.min(nc));
                    let best = brute_force_best(&scores, nr, nc);
                    assert!((total - best).abs() < 1e-4, "{nr}x{nc}: {total} vs {best}");
                }
            }
        }
    }

    #[test]
    fn empty_matrix_gives_no_matches() {
        let mut m = Munkres::new();
        assert!(m.solve_max(&[], 0, 3).is_empty());
        assert_eq!(m.solve_max(&[], 2, 0), &[-1, -1]);
    }
}
