//! Screen geometry, shared by `update` (paging, scrolling) and the views, so both agree on
//! how many rows the list shows.

use ratatui::layout::Rect;

/// Below this the screen shows a message asking for a larger terminal.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// Side-by-side detail pane from this width; stacked (below the list) from `STACK_HEIGHT`.
const SIDE_WIDTH: u16 = 170;
const STACK_HEIGHT: u16 = 36;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    /// Everything between the header and the status bar.
    pub body: Rect,
    pub list: Rect,
    /// Where the detail pane goes when it is shown beside or below the list.
    pub detail: Option<Rect>,
    pub status: Rect,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

pub fn areas(area: Rect) -> Areas {
    let header = Rect { height: 1, ..area };
    let status = Rect {
        y: area.y + area.height.saturating_sub(1),
        height: 1,
        ..area
    };
    let body = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(2),
        ..area
    };
    let (list, detail) = if area.width >= SIDE_WIDTH {
        let lw = body.width * 58 / 100;
        (
            Rect { width: lw, ..body },
            Some(Rect {
                x: body.x + lw,
                width: body.width - lw,
                ..body
            }),
        )
    } else if area.height >= STACK_HEIGHT {
        let lh = body.height * 55 / 100;
        (
            Rect { height: lh, ..body },
            Some(Rect {
                y: body.y + lh,
                height: body.height - lh,
                ..body
            }),
        )
    } else {
        (body, None)
    };
    Areas {
        header,
        body,
        list,
        detail,
        status,
    }
}

/// Rows of changes inside the list's border (below the column headings).
pub fn list_rows(area: Rect) -> usize {
    areas(area).list.height.saturating_sub(3) as usize
}
