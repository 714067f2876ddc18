//! The one table renderer: columns padded to their display width (so Japanese text and other
//! wide characters line up), a rule under the header, long cells cut with `…`.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Cells wider than this many columns are cut.
pub const MAX_CELL_WIDTH: usize = 60;

/// `s` on one line, cut to at most `max` display columns (the last one a `…` when cut).
pub fn cell(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\t'], " ");
    if s.width() <= max {
        return s;
    }
    let mut out = String::new();
    let mut width = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if width + w > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        width += w;
    }
    out.push('…');
    out
}

fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

/// The table: header, a rule of dashes per column, the rows; columns two spaces apart, no
/// trailing spaces. Cells are shown as given (cut them with [`cell`] first).
pub fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|c| c.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.width());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header);
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_line_up_and_long_cells_are_cut_by_display_width() {
        let header = vec!["name".to_string(), "n".to_string()];
        let rows =
            vec![vec!["東京リージョン".to_string(), "1".to_string()], vec!["tokyo".to_string(), "22".to_string()]];
        let text = render(&header, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name            n");
        assert_eq!(lines[1], "--------------  --");
        assert_eq!(lines[2], "東京リージョン  1");
        assert_eq!(lines[3], "tokyo           22");
        assert_eq!(cell("日本語のとても長い説明", 9), "日本語の…");
        assert_eq!(cell("日本語のとても長い説明", 9).width(), 9);
        assert_eq!(cell("short", 9), "short");
        assert_eq!(cell(&"x".repeat(70), MAX_CELL_WIDTH).width(), MAX_CELL_WIDTH);
    }
}
