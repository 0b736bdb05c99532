//! Fitting a table to the terminal's width without ever breaking a name.
//!
//! A table row stays one line. When the columns are wider than the
//! terminal, the free-text columns (body previews, reasons, errors) are
//! shortened first, each down to a floor, with `…` where text was cut; then
//! the least useful columns are left out, the rightmost first, free text
//! last. Names an operator copies (queue names, IDs, run IDs, the first
//! column) are never shortened nor left out, as kubectl and natscli do at
//! narrow widths; `-o wide` shows every column whole.

/// What becomes of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Shown whole.
    Whole,
    /// Shown at most this wide, cut with `…`.
    Cut(u16),
    /// Left out.
    Hidden,
}

/// How a column may give way, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Give {
    Never,
    Shrink,
    Drop,
}

/// Headers of columns holding names to copy.
const NAMES: &[&str] = &[
    "ID",
    "RUN ID",
    "NAME",
    "QUEUE",
    "TOPIC",
    "STREAM",
    "SUBSCRIPTION",
    "SOURCE",
    "TO",
    "WOULD GO TO",
    "DEAD-LETTERS TO / FROM",
    "SAMPLE",
];

/// Headers of free-text columns, shortened before any column is left out.
const FREE_TEXT: &[&str] = &[
    "BODY",
    "REASON",
    "ERROR",
    "ERROR MESSAGE",
    "NOTE",
    "HEADERS",
    "COMMAND",
];

/// The narrowest a shortened column gets.
const FLOOR: u16 = 10;

/// A column's border and padding in the condensed preset (`│ x `).
const EDGE: u16 = 3;

fn give(index: usize, header: &str) -> Give {
    if index == 0 || NAMES.contains(&header) {
        Give::Never
    } else if FREE_TEXT.contains(&header) {
        Give::Shrink
    } else {
        Give::Drop
    }
}

/// Fits columns of the given content `widths` (headers included) into
/// `total` terminal columns.
pub fn fit(headers: &[String], widths: &[u16], total: u16) -> Vec<Fit> {
    let gives: Vec<Give> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| give(i, h))
        .collect();
    let mut fits = vec![Fit::Whole; widths.len()];
    // Leaving out columns one at a time, in order, until the rest fit once
    // the free text is shortened.
    let mut drops: Vec<usize> = (0..widths.len())
        .rev()
        .filter(|&i| gives.get(i) == Some(&Give::Drop))
        .collect();
    drops.extend(
        (0..widths.len())
            .rev()
            .filter(|&i| gives.get(i) == Some(&Give::Shrink)),
    );
    let mut drops = drops.into_iter();
    loop {
        if shorten(&gives, widths, total, &mut fits) {
            return fits;
        }
        match drops.next() {
            Some(i) => fits[i] = Fit::Hidden,
            // Only names are left: shown whole, wider than the terminal.
            None => return fits,
        }
    }
}

/// Shortens the shown free-text columns, widest first, so the table fits;
/// false when even at their floors it does not.
fn shorten(gives: &[Give], widths: &[u16], total: u16, fits: &mut [Fit]) -> bool {
    let width_of = |i: usize, f: Fit| match f {
        Fit::Whole => widths[i] + EDGE,
        Fit::Cut(w) => w + EDGE,
        Fit::Hidden => 0,
    };
    for f in fits.iter_mut().filter(|f| **f != Fit::Hidden) {
        *f = Fit::Whole;
    }
    let used = |fits: &[Fit]| -> u32 {
        1 + fits
            .iter()
            .enumerate()
            .map(|(i, &f)| u32::from(width_of(i, f)))
            .sum::<u32>()
    };
    let mut excess = used(fits).saturating_sub(u32::from(total));
    while excess > 0 {
        // The widest shown free-text column above the floor gives a column.
        let widest = (0..fits.len())
            .filter(|&i| gives.get(i) == Some(&Give::Shrink) && fits[i] != Fit::Hidden)
            .map(|i| (i, width_of(i, fits[i]) - EDGE))
            .filter(|&(_, w)| w > FLOOR)
            .max_by_key(|&(i, w)| (w, i));
        let Some((i, w)) = widest else {
            return false;
        };
        fits[i] = Fit::Cut(w - 1);
        excess -= 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    fn used(widths: &[u16], fits: &[Fit]) -> u32 {
        1 + fits
            .iter()
            .zip(widths)
            .map(|(f, w)| match f {
                Fit::Whole => u32::from(w + EDGE),
                Fit::Cut(c) => u32::from(c + EDGE),
                Fit::Hidden => 0,
            })
            .sum::<u32>()
    }

    const LIST: &[&str] = &["ID", "AGE", "REASON", "SOURCE", "ATTEMPTS", "SIZE", "BODY"];

    #[test]
    fn a_table_that_fits_is_left_alone() {
        let w = [8, 3, 8, 6, 8, 5, 20];
        assert_eq!(fit(&headers(LIST), &w, 120), vec![Fit::Whole; 7]);
    }

    #[test]
    fn at_80_columns_the_body_is_shortened_first() {
        let w = [36, 3, 8, 10, 8, 5, 60];
        let fits = fit(&headers(LIST), &w, 80);
        assert_eq!(fits[0], Fit::Whole, "the ID is never shortened");
        assert_eq!(fits[3], Fit::Whole, "the source is a name");
        assert!(matches!(fits[6], Fit::Cut(_)), "{fits:?}");
        assert!(used(&w, &fits) <= 80, "{fits:?}");
    }

    #[test]
    fn when_shortening_is_not_enough_columns_are_left_out_rightmost_first() {
        let w = [36, 3, 40, 30, 8, 5, 60];
        let fits = fit(&headers(LIST), &w, 80);
        assert_eq!(fits[0], Fit::Whole);
        assert_eq!(fits[3], Fit::Whole);
        assert_eq!(fits[5], Fit::Hidden, "SIZE goes first: {fits:?}");
        assert!(used(&w, &fits) <= 80, "{fits:?}");
    }

    #[test]
    fn at_120_columns_more_is_shown_than_at_80() {
        let w = [36, 3, 40, 30, 8, 5, 60];
        let shown = |f: &[Fit]| f.iter().filter(|f| **f != Fit::Hidden).count();
        let narrow = fit(&headers(LIST), &w, 80);
        let wide = fit(&headers(LIST), &w, 120);
        assert!(shown(&wide) > shown(&narrow), "{narrow:?} {wide:?}");
        assert!(used(&w, &wide) <= 120);
    }

    #[test]
    fn names_stay_whole_even_when_they_alone_are_too_wide() {
        let h = headers(&["NAME", "KIND", "DEPTH", "DLQ", "DEAD-LETTERS TO / FROM"]);
        let w = [70, 6, 5, 3, 40];
        let fits = fit(&h, &w, 80);
        assert_eq!(fits[0], Fit::Whole);
        assert_eq!(fits[4], Fit::Whole);
        assert_eq!(&fits[1..4], &[Fit::Hidden; 3]);
    }
}
