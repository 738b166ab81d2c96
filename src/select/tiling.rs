//! The `grid × grid` tiling of an image: which pixels each tile covers, in row-major tile order
//! (tile 0 at row 0 = bottom-left, index = tile_row · grid + tile_col).

use afm_drivers::PixelRect;

/// A `grid × grid` split of an image of `lines × points` pixels. When the side is not a multiple of
/// the grid, the last tile of each row/column is larger (it takes the remainder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Tiles per side.
    pub grid: usize,
    /// Image lines (rows).
    pub lines: usize,
    /// Image points per line (columns).
    pub points: usize,
}

impl Tiling {
    /// A tiling of a `lines × points` image into `grid × grid` tiles.
    pub fn new(grid: usize, lines: usize, points: usize) -> Self {
        Self { grid, lines, points }
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.grid * self.grid
    }

    /// Whether the tiling is empty (grid 0).
    pub fn is_empty(&self) -> bool {
        self.grid == 0
    }

    fn span(n: usize, grid: usize, k: usize) -> (usize, usize) {
        let base = n / grid;
        let start = k * base;
        let len = if k + 1 == grid { n - start } else { base };
        (start, len)
    }

    /// The pixels tile `index` covers.
    pub fn rect(&self, index: usize) -> PixelRect {
        let (tr, tc) = (index / self.grid, index % self.grid);
        let (row, rows) = Self::span(self.lines, self.grid, tr);
        let (col, cols) = Self::span(self.points, self.grid, tc);
        PixelRect { col, row, cols, rows }
    }

    /// All tile rectangles in index order.
    pub fn rects(&self) -> Vec<PixelRect> {
        (0..self.len()).map(|i| self.rect(i)).collect()
    }

    /// (tile row, tile column) of tile `index`.
    pub fn position(&self, index: usize) -> (usize, usize) {
        (index / self.grid, index % self.grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_image_once() {
        let t = Tiling::new(8, 100, 130);
        let mut seen = vec![0u8; 100 * 130];
        for r in t.rects() {
            for y in r.row..r.row + r.rows {
                for x in r.col..r.col + r.cols {
                    seen[y * 130 + x] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&s| s == 1));
        assert_eq!(t.rect(9), PixelRect { col: 16, row: 12, cols: 16, rows: 12 });
        assert_eq!(t.rect(63).cols, 130 - 7 * 16);
    }
}
