//! Small-number suppression of a two-way table with its totals (statistical disclosure control).
//!
//! Why two steps: hiding small cells (primary suppression) is not enough when the row and column
//! totals are published, because a single hidden cell in a line equals its total minus the other
//! cells. So the table is extended with its totals (an (r+1)×(c+1) grid whose last row and column
//! are totals) and, until a fixed point, every line (row or column, total included) holding exactly
//! one hidden entry gets a second one hidden: the smallest non-zero inner cell of that line, else
//! the smallest non-zero entry, else the smallest entry (complementary suppression).
//!
//! Zeros are published: a zero count identifies nobody, and CSO / Department tables publish them.
//! Every entry is a count of people or households; totals below the threshold are primary too.

use serde::Serialize;

/// Why an entry is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Below the threshold.
    Primary,
    /// Hidden so that a primary cell cannot be derived from the totals.
    Complementary,
}

/// A published table: `None` entries are suppressed. Totals are computed from the unsuppressed
/// input, so they stay true totals even where cells are hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub cells: Vec<Vec<Option<u64>>>,
    pub row_totals: Vec<Option<u64>>,
    pub column_totals: Vec<Option<u64>>,
    pub grand_total: Option<u64>,
    /// Reason per entry of the extended grid, `None` where published (same shape as `extended`).
    pub reasons: Vec<Vec<Option<Reason>>>,
}

impl Suppressed {
    /// The extended grid (cells, row totals as the last column, column totals and grand total as
    /// the last row), for checks.
    pub fn extended(&self) -> Vec<Vec<Option<u64>>> {
        let mut grid: Vec<Vec<Option<u64>>> = self
            .cells
            .iter()
            .zip(&self.row_totals)
            .map(|(row, total)| {
                let mut r = row.clone();
                r.push(*total);
                r
            })
            .collect();
        let mut last = self.column_totals.clone();
        last.push(self.grand_total);
        grid.push(last);
        grid
    }

    pub fn suppressed_count(&self) -> usize {
        self.reasons
            .iter()
            .flatten()
            .filter(|r| r.is_some())
            .count()
    }
}

/// Suppresses `cells` (rows × columns, all rows the same length) with `threshold` (≥ 1).
pub fn suppress(cells: &[Vec<u64>], threshold: u64) -> Suppressed {
    let rows = cells.len();
    let cols = cells.first().map_or(0, Vec::len);
    // Extended grid of values with totals.
    let mut grid: Vec<Vec<u64>> = Vec::with_capacity(rows + 1);
    for row in cells {
        let mut r: Vec<u64> = (0..cols)
            .map(|c| row.get(c).copied().unwrap_or(0))
            .collect();
        r.push(r.iter().sum());
        grid.push(r);
    }
    let mut totals: Vec<u64> = (0..=cols)
        .map(|c| grid.iter().map(|r| r[c]).sum())
        .collect();
    if cols == 0 {
        totals = vec![grid.iter().map(|r| r[0]).sum()];
    }
    grid.push(totals);

    let mut reasons: Vec<Vec<Option<Reason>>> = grid
        .iter()
        .map(|r| {
            r.iter()
                .map(|&v| (v > 0 && v < threshold).then_some(Reason::Primary))
                .collect()
        })
        .collect();

    // Complementary suppression to a fixed point. Each pass hides at least one more entry, so it
    // ends after at most (rows+1)×(cols+1) passes.
    loop {
        let mut changed = false;
        for line in lines(rows + 1, cols + 1) {
            let hidden = line
                .iter()
                .filter(|&&(r, c)| reasons[r][c].is_some())
                .count();
            if hidden != 1 {
                continue;
            }
            if let Some((r, c)) = pick_complement(&grid, &reasons, &line, rows, cols) {
                reasons[r][c] = Some(Reason::Complementary);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let published = |r: usize, c: usize| reasons[r][c].is_none().then_some(grid[r][c]);
    Suppressed {
        cells: (0..rows)
            .map(|r| (0..cols).map(|c| published(r, c)).collect())
            .collect(),
        row_totals: (0..rows).map(|r| published(r, cols)).collect(),
        column_totals: (0..cols).map(|c| published(rows, c)).collect(),
        grand_total: published(rows, cols),
        reasons,
    }
}

/// Every row and every column of an `nr` × `nc` extended grid, as coordinate lists.
fn lines(nr: usize, nc: usize) -> Vec<Vec<(usize, usize)>> {
    let mut out: Vec<Vec<(usize, usize)>> =
        (0..nr).map(|r| (0..nc).map(|c| (r, c)).collect()).collect();
    out.extend((0..nc).map(|c| (0..nr).map(|r| (r, c)).collect()));
    out
}

/// The published entry of `line` to hide next (smallest non-zero inner cell, then smallest
/// non-zero entry, then smallest entry). Ties go to the first in line order, so output is stable.
fn pick_complement(
    grid: &[Vec<u64>],
    reasons: &[Vec<Option<Reason>>],
    line: &[(usize, usize)],
    rows: usize,
    cols: usize,
) -> Option<(usize, usize)> {
    let candidates: Vec<(usize, usize)> = line
        .iter()
        .copied()
        .filter(|&(r, c)| reasons[r][c].is_none())
        .collect();
    let is_inner = |&(r, c): &(usize, usize)| r < rows && c < cols;
    let smallest = |pred: &dyn Fn(&(usize, usize)) -> bool| {
        candidates
            .iter()
            .copied()
            .filter(|p| pred(p))
            .min_by_key(|&(r, c)| grid[r][c])
    };
    smallest(&|p| is_inner(p) && grid[p.0][p.1] > 0)
        .or_else(|| smallest(&|p| grid[p.0][p.1] > 0))
        .or_else(|| smallest(&|_| true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_invariants(input: &[Vec<u64>], out: &Suppressed, threshold: u64) {
        let ext = out.extended();
        // No published entry is a small non-zero count.
        for row in &ext {
            for v in row.iter().flatten() {
                assert!(*v == 0 || *v >= threshold, "published {v} < {threshold}");
            }
        }
        // No line (totals included) has exactly one hidden entry.
        let (nr, nc) = (ext.len(), ext[0].len());
        for line in lines(nr, nc) {
            let hidden = line.iter().filter(|&&(r, c)| ext[r][c].is_none()).count();
            assert_ne!(hidden, 1, "line {line:?} has one hidden entry: {ext:?}");
        }
        // Published values are the true values.
        for (r, row) in input.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if let Some(p) = out.cells[r][c] {
                    assert_eq!(p, *v);
                }
            }
            if let Some(t) = out.row_totals[r] {
                assert_eq!(t, row.iter().sum::<u64>());
            }
        }
    }

    #[test]
    fn lone_small_cell_gets_a_complement_in_row_and_column() {
        let input = vec![vec![3, 20, 30], vec![40, 50, 60], vec![70, 80, 90]];
        let out = suppress(&input, 10);
        assert_eq!(out.cells[0][0], None);
        assert_eq!(out.reasons[0][0], Some(Reason::Primary));
        // Row 0: next smallest inner cell is 20; column 0: next smallest is 40.
        assert_eq!(out.cells[0][1], None);
        assert_eq!(out.cells[1][0], None);
        // Cell (1,1) closes the rectangle so column 1 and row 1 each have two hidden.
        assert_eq!(out.cells[1][1], None);
        assert_eq!(out.grand_total, Some(443));
        check_invariants(&input, &out, 10);
    }

    #[test]
    fn nothing_small_nothing_hidden() {
        let input = vec![vec![10, 0], vec![25, 11]];
        let out = suppress(&input, 10);
        assert_eq!(out.suppressed_count(), 0);
        assert_eq!(out.row_totals, vec![Some(10), Some(36)]);
        assert_eq!(out.column_totals, vec![Some(35), Some(11)]);
    }

    #[test]
    fn small_total_is_primary() {
        // Row total 6 is below 10; its cells 2 and 4 are primary too.
        let input = vec![vec![2, 4], vec![30, 40]];
        let out = suppress(&input, 10);
        assert_eq!(out.row_totals[0], None);
        assert_eq!(out.reasons[0][2], Some(Reason::Primary));
        check_invariants(&input, &out, 10);
    }

    #[test]
    fn single_column_table_hides_the_total_too() {
        // One category: the row total equals the cell, so both are hidden together.
        let input = vec![vec![5], vec![50], vec![60]];
        let out = suppress(&input, 10);
        assert_eq!(out.cells[0][0], None);
        assert_eq!(out.row_totals[0], None);
        check_invariants(&input, &out, 10);
    }

    #[test]
    fn empty_table() {
        let out = suppress(&[], 10);
        assert!(out.cells.is_empty());
        assert_eq!(out.grand_total, Some(0));
    }

    fn grid() -> impl Strategy<Value = (Vec<Vec<u64>>, u64)> {
        (1usize..7, 1usize..7, 1u64..16).prop_flat_map(|(r, c, t)| {
            (
                prop::collection::vec(
                    prop::collection::vec(prop_oneof![0u64..15, 0u64..200], c),
                    r,
                ),
                Just(t),
            )
        })
    }

    proptest! {
        #[test]
        fn no_small_cell_published_and_none_derivable((input, threshold) in grid()) {
            let out = suppress(&input, threshold);
            check_invariants(&input, &out, threshold);
        }

        #[test]
        fn deterministic((input, threshold) in grid()) {
            prop_assert_eq!(suppress(&input, threshold), suppress(&input, threshold));
        }
    }
}
