//! The Live page's grid of participant tiles: as many columns as make the tiles largest for
//! the number of people and the space there is, laid out again whenever either changes.
//!
//! Each tile is a 16:9 picture above a footer of fixed height. The grid tries every column
//! count, keeps the one whose pictures come out widest, and centres the block of tiles; when
//! even the smallest tiles do not fit, it asks for more height and the scrolled window around
//! it scrolls.

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{glib, graphene};

/// Width over height of a tile's picture.
pub const PICTURE_ASPECT: f64 = 16.0 / 9.0;
/// Height of a tile's footer (name, level meter, badge, record toggle), in pixels.
pub const FOOTER_HEIGHT: i32 = 46;
/// Space between tiles.
pub const GAP: i32 = 12;
/// Tiles never get narrower than this: the footer's name (five characters at least), level
/// meter, badge and record toggle fit.
pub const MIN_TILE_WIDTH: i32 = 300;

/// Where tiles go in a given space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    pub columns: usize,
    pub rows: usize,
    pub tile_width: i32,
    pub tile_height: i32,
}

impl GridLayout {
    /// The whole block of tiles, gaps included.
    pub fn block_size(&self) -> (i32, i32) {
        let columns = self.columns as i32;
        let rows = self.rows as i32;
        (
            columns * self.tile_width + (columns - 1).max(0) * GAP,
            rows * self.tile_height + (rows - 1).max(0) * GAP,
        )
    }
}

fn tile_height_for(width: i32) -> i32 {
    (f64::from(width) / PICTURE_ASPECT).round() as i32 + FOOTER_HEIGHT
}

/// The layout that makes `count` tiles largest in `width` × `height` pixels. When no column
/// count fits them all at [`MIN_TILE_WIDTH`], the smallest tiles fill the width and the block
/// is taller than `height` (the caller scrolls).
pub fn best_layout(count: usize, width: i32, height: i32) -> GridLayout {
    let count = count.max(1);
    let mut best: Option<GridLayout> = None;
    for columns in 1..=count {
        let rows = count.div_ceil(columns);
        let cols = columns as i32;
        let cell_width = (width - (cols - 1) * GAP) / cols;
        let cell_height = (height - (rows as i32 - 1) * GAP) / rows as i32;
        // The picture keeps its aspect: as wide as the cell, or as the height allows.
        let by_height = (f64::from(cell_height - FOOTER_HEIGHT) * PICTURE_ASPECT).floor() as i32;
        let tile_width = cell_width.min(by_height);
        if tile_width < MIN_TILE_WIDTH {
            continue;
        }
        let candidate = GridLayout {
            columns,
            rows,
            tile_width,
            tile_height: tile_height_for(tile_width),
        };
        // Larger pictures win; at equal size, fewer rows (less empty space below).
        if best.is_none_or(|b| candidate.tile_width > b.tile_width) {
            best = Some(candidate);
        }
    }
    best.unwrap_or_else(|| smallest_layout(count, width))
}

/// The smallest tiles, as many per row as the width takes: what the grid needs at least, and
/// what it shows (scrolling) when the space is smaller.
pub fn smallest_layout(count: usize, width: i32) -> GridLayout {
    let count = count.max(1);
    let columns = (((width + GAP) / (MIN_TILE_WIDTH + GAP)).max(1) as usize).min(count);
    GridLayout {
        columns,
        rows: count.div_ceil(columns),
        tile_width: MIN_TILE_WIDTH,
        tile_height: tile_height_for(MIN_TILE_WIDTH),
    }
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct TileGrid {}

    #[glib::object_subclass]
    impl ObjectSubclass for TileGrid {
        const NAME: &'static str = "RoomtapeTileGrid";
        type Type = super::TileGrid;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.set_css_name("tilegrid");
            klass.set_accessible_role(gtk::AccessibleRole::Group);
        }
    }

    impl ObjectImpl for TileGrid {
        fn dispose(&self) {
            while let Some(child) = self.obj().first_child() {
                child.unparent();
            }
        }
    }

    impl WidgetImpl for TileGrid {
        fn request_mode(&self) -> gtk::SizeRequestMode {
            gtk::SizeRequestMode::HeightForWidth
        }

        fn measure(&self, orientation: gtk::Orientation, for_size: i32) -> (i32, i32, i32, i32) {
            let count = self.obj().tile_count();
            if count == 0 {
                return (0, 0, -1, -1);
            }
            match orientation {
                gtk::Orientation::Horizontal => {
                    let natural = best_layout(count, 1280, 800).block_size().0;
                    (MIN_TILE_WIDTH, natural.max(MIN_TILE_WIDTH), -1, -1)
                }
                _ => {
                    // For a width, the height the smallest tiles need (any more scrolls).
                    let width = if for_size > 0 {
                        for_size
                    } else {
                        MIN_TILE_WIDTH
                    };
                    let minimum = smallest_layout(count, width).block_size().1;
                    (minimum, minimum, -1, -1)
                }
            }
        }

        fn size_allocate(&self, width: i32, height: i32, _baseline: i32) {
            let obj = self.obj();
            let layout = best_layout(obj.tile_count(), width, height);
            let (block_width, block_height) = layout.block_size();
            let left = ((width - block_width) / 2).max(0);
            let top = ((height - block_height) / 2).max(0);
            let mut index = 0usize;
            let mut child = obj.first_child();
            while let Some(widget) = child {
                child = widget.next_sibling();
                if !widget.is_visible() {
                    continue;
                }
                let column = (index % layout.columns) as i32;
                let row = (index / layout.columns) as i32;
                // A last row that is not full is centred too.
                let in_last_row = layout.rows > 1 && row as usize == layout.rows - 1;
                let last_row_count = obj.tile_count() - (layout.rows - 1) * layout.columns;
                let row_offset = if in_last_row {
                    ((layout.columns - last_row_count) as i32 * (layout.tile_width + GAP)) / 2
                } else {
                    0
                };
                let x = left + row_offset + column * (layout.tile_width + GAP);
                let y = top + row * (layout.tile_height + GAP);
                let transform = gsk_translate(x, y);
                widget.allocate(layout.tile_width, layout.tile_height, -1, Some(transform));
                index += 1;
            }
        }
    }

    fn gsk_translate(x: i32, y: i32) -> gtk::gsk::Transform {
        gtk::gsk::Transform::new().translate(&graphene::Point::new(x as f32, y as f32))
    }
}

glib::wrapper! {
    /// A grid of tiles that fills the space it gets.
    pub struct TileGrid(ObjectSubclass<imp::TileGrid>)
        @extends gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for TileGrid {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl TileGrid {
    pub fn append(&self, tile: &impl IsA<gtk::Widget>) {
        tile.set_parent(self);
        self.queue_resize();
    }

    pub fn remove(&self, tile: &impl IsA<gtk::Widget>) {
        if tile.parent().as_ref() == Some(self.upcast_ref()) {
            tile.unparent();
            self.queue_resize();
        }
    }

    /// The visible tiles, in order.
    pub fn tiles(&self) -> Vec<gtk::Widget> {
        let mut tiles = Vec::new();
        let mut child = self.first_child();
        while let Some(widget) = child {
            child = widget.next_sibling();
            if widget.is_visible() {
                tiles.push(widget);
            }
        }
        tiles
    }

    fn tile_count(&self) -> usize {
        self.tiles().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_gets_the_whole_space() {
        let layout = best_layout(1, 1280, 720);
        assert_eq!((layout.columns, layout.rows), (1, 1));
        // Limited by the height: 720 - footer, at 16:9.
        assert_eq!(
            layout.tile_width,
            ((720 - FOOTER_HEIGHT) as f64 * 16.0 / 9.0) as i32
        );
        assert!(layout.block_size().0 <= 1280 && layout.block_size().1 <= 720);
    }

    #[test]
    fn the_column_count_follows_the_window_shape() {
        // A wide window puts two people side by side, a tall one above each other.
        assert_eq!(best_layout(2, 1280, 600).columns, 2);
        assert_eq!(best_layout(2, 700, 1000).columns, 1);
        // Four in a 16:10 window: a 2×2 grid.
        let four = best_layout(4, 1260, 700);
        assert_eq!((four.columns, four.rows), (2, 2));
        // Nine: 3×3.
        let nine = best_layout(9, 1260, 700);
        assert_eq!((nine.columns, nine.rows), (3, 3));
    }

    #[test]
    fn the_chosen_layout_is_the_largest_that_fits() {
        for count in 1..=16 {
            for (width, height) in [(1280, 800), (800, 600), (1920, 1080), (600, 900)] {
                let best = best_layout(count, width, height);
                let (block_width, block_height) = best.block_size();
                if best.tile_width > MIN_TILE_WIDTH {
                    assert!(
                        block_width <= width && block_height <= height,
                        "{count} in {width}x{height}: {best:?}"
                    );
                }
                for columns in 1..=count {
                    let rows = count.div_ceil(columns);
                    let tile_width = ((width - (columns as i32 - 1) * GAP) / columns as i32).min(
                        ((((height - (rows as i32 - 1) * GAP) / rows as i32) - FOOTER_HEIGHT)
                            as f64
                            * PICTURE_ASPECT) as i32,
                    );
                    if tile_width >= MIN_TILE_WIDTH {
                        assert!(
                            tile_width <= best.tile_width,
                            "{count} in {width}x{height}: {columns} columns give {tile_width}, chosen {best:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn too_many_for_the_space_fill_the_width_and_scroll() {
        let layout = best_layout(30, 1000, 600);
        assert_eq!(layout.tile_width, MIN_TILE_WIDTH);
        assert_eq!(layout.columns, 3);
        assert_eq!(layout.rows, 10);
        assert!(
            layout.block_size().1 > 600,
            "taller than the window: scrolls"
        );
        // Given the height it asks for, the grid is laid out without scrolling.
        for count in 1..=20 {
            for width in [300, 800, 1280] {
                let needed = smallest_layout(count, width).block_size().1;
                let laid = best_layout(count, width, needed);
                assert!(laid.tile_width >= MIN_TILE_WIDTH);
                assert!(
                    laid.block_size().1 <= needed,
                    "{count} at {width}: {laid:?}"
                );
            }
        }
    }
}
