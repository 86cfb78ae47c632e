//! Checks on a spreadsheet's raw text that a CSV reader cannot make: which separator the header
//! line uses (`,`, `;` from European Excel, tab from Google Sheets TSV), where a quote was left
//! open (a CSV reader silently ends such a cell at the end of the file, swallowing every row
//! after it), and whether a multi-line cell holds lines shaped like rows of the sheet (a stray
//! quote that swallowed rows before a later quote closed it). Also the names a spreadsheet
//! app shows, for problems: row numbers (blank lines counted, newlines in quoted cells not) and
//! column letters.

use std::path::Path;

use csv::ByteRecord;

/// The separator of the header line: `,` unless the line has none and has `;` or tabs.
/// Returns the separator and whether it was recognised (not the default).
pub(super) fn sniff_delimiter(data: &[u8]) -> (u8, bool) {
    let line_end = data
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(data.len());
    let header = &data[..line_end];
    let count = |d: u8| header.iter().filter(|&&b| b == d).count();
    let (commas, semis, tabs) = (count(b','), count(b';'), count(b'\t'));
    if commas > 0 || (semis == 0 && tabs == 0) {
        (b',', false)
    } else if tabs >= semis {
        (b'\t', true)
    } else {
        (b';', true)
    }
}

/// A printable name of a separator, for notes.
pub(super) fn delimiter_name(d: u8) -> &'static str {
    match d {
        b',' => "`,`",
        b';' => "`;`",
        b'\t' => "tabs",
        _ => "another character",
    }
}

/// The byte offset of a quote that opens a cell and is still open at the end of `data`, read
/// as the csv crate reads it: a quote opens a cell only at the cell's start, `""` inside a
/// quoted cell is a literal quote.
pub(super) fn unclosed_quote(data: &[u8], delimiter: u8) -> Option<usize> {
    let mut at_cell_start = true;
    let mut open: Option<usize> = None;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match open {
            Some(_) => {
                if b == b'"' {
                    if data.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    open = None;
                    at_cell_start = false;
                }
            }
            None => match b {
                b'\n' | b'\r' => at_cell_start = true,
                b'"' if at_cell_start => open = Some(i),
                _ if b == delimiter => at_cell_start = true,
                _ => at_cell_start = false,
            },
        }
        i += 1;
    }
    open
}

/// The 1-based text line of byte `at`.
pub(super) fn line_of(data: &[u8], at: usize) -> usize {
    let upto = &data[..at.min(data.len())];
    let lf = upto.iter().filter(|&&b| b == b'\n').count();
    // A file with bare `\r` line ends (old Mac) counts those instead.
    if lf == 0 {
        upto.iter().filter(|&&b| b == b'\r').count() + 1
    } else {
        lf + 1
    }
}

/// [`line_of`] for positions that mostly grow, as a reader walks the sheet: only the bytes
/// since the last position are counted (counting from the start for every row made reading a
/// 10,000-row sheet take seconds).
#[derive(Debug, Default)]
pub(super) struct LineCounter {
    at: usize,
    lf: usize,
    cr: usize,
}

impl LineCounter {
    pub(super) fn line_of(&mut self, data: &[u8], at: usize) -> usize {
        let at = at.min(data.len());
        if at < self.at {
            *self = LineCounter::default();
        }
        for &b in &data[self.at..at] {
            match b {
                b'\n' => self.lf += 1,
                b'\r' => self.cr += 1,
                _ => {}
            }
        }
        self.at = at;
        if self.lf == 0 {
            self.cr + 1
        } else {
            self.lf + 1
        }
    }
}

/// The first line after the first of a multi-line `cell` that looks like a row of this sheet:
/// as many cells as the header, and a `file` cell naming a path that exists. Returns its index
/// among the cell's lines (1 = the second line) and the line's text.
pub(super) fn row_like_line(
    cell: &str,
    delimiter: u8,
    width: usize,
    file_col: Option<usize>,
) -> Option<(usize, String)> {
    let file_col = file_col?;
    for (n, line) in cell.lines().enumerate().skip(1) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(line.as_bytes());
        let Some(Ok(record)) = reader.records().next() else {
            continue;
        };
        if record.len() != width {
            continue;
        }
        let file = record.get(file_col).unwrap_or("").trim();
        if !file.is_empty() && Path::new(file).exists() {
            return Some((n, line.to_owned()));
        }
    }
    None
}

/// Turns records into the row numbers a spreadsheet app shows: one per record, newlines inside
/// quoted cells not counted, blank lines counted (the csv reader skips them silently).
#[derive(Debug, Default)]
pub(super) struct RowCounter {
    /// The row of the last record read (0 before the first).
    pub(super) last: usize,
}

impl RowCounter {
    /// The row of `record`, read from `data` (the bytes given to the csv reader).
    pub(super) fn next(&mut self, record: &ByteRecord, data: &[u8]) -> usize {
        let start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(0);
        let row = self.last + 1 + blank_lines_at(data, start);
        self.last = row;
        row
    }
}

/// Counts the blank lines the csv reader skipped before a record. Its position points at the
/// end of the previous record, which may be between the `\r` and `\n` of a CRLF.
fn blank_lines_at(data: &[u8], start: usize) -> usize {
    let mut i = start;
    if i > 0 && data.get(i - 1) == Some(&b'\r') && data.get(i) == Some(&b'\n') {
        i += 1;
    }
    let mut blanks = 0;
    loop {
        match data.get(i) {
            Some(b'\n') => i += 1,
            Some(b'\r') if data.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'\r') => i += 1,
            _ => return blanks,
        }
        blanks += 1;
    }
}

/// Spreadsheet column letters for a 0-based column: 0 -> A, 25 -> Z, 26 -> AA.
pub(super) fn column_letters(col: usize) -> String {
    let mut n = col + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_recognised_from_the_header_line() {
        assert_eq!(sniff_delimiter(b"identifier,file\na;b,c\n"), (b',', false));
        assert_eq!(sniff_delimiter(b"identifier;file;title\n"), (b';', true));
        assert_eq!(sniff_delimiter(b"identifier\tfile\n"), (b'\t', true));
        assert_eq!(sniff_delimiter(b"identifier\n"), (b',', false));
        // A comma in the header wins: a `;` inside a name is no separator.
        assert_eq!(sniff_delimiter(b"identifier,file,a;b\n"), (b',', false));
    }

    #[test]
    fn quotes_left_open_are_found_where_they_opened() {
        let d = b"id,file,title\nq1,a.txt,\"Title\nq2,b.txt,x\n";
        let at = unclosed_quote(d, b',').expect("open");
        assert_eq!(line_of(d, at), 2);
        assert_eq!(unclosed_quote(b"a,\"b\"\"c\"\n", b','), None);
        assert_eq!(unclosed_quote(b"a,\"multi\nline\"\n", b','), None);
        // A quote inside an unquoted cell is a literal.
        assert_eq!(unclosed_quote(b"a,5\" disk\n", b','), None);
        assert_eq!(unclosed_quote(b"a;\"b\n", b';'), Some(2));
    }

    #[test]
    fn row_like_lines_need_the_width_and_an_existing_file() {
        let here = env!("CARGO_MANIFEST_DIR");
        let cell = format!("Title\nq2,{here}/Cargo.toml,x\n");
        assert_eq!(
            row_like_line(&cell, b',', 3, Some(1)).map(|(n, _)| n),
            Some(1)
        );
        assert_eq!(row_like_line(&cell, b',', 4, Some(1)), None);
        assert_eq!(
            row_like_line("Title\nq2,nope.txt,x", b',', 3, Some(1)),
            None
        );
        assert_eq!(row_like_line(&cell, b',', 3, None), None);
    }

    #[test]
    fn blank_lines_are_counted_once_per_line_ending() {
        assert_eq!(blank_lines_at(b"a\nb\n", 2), 0);
        assert_eq!(blank_lines_at(b"a\n\n\nb\n", 2), 2);
        // Position between the `\r` and `\n` of the previous record's CRLF.
        assert_eq!(blank_lines_at(b"a\r\nb\n", 2), 0);
        assert_eq!(blank_lines_at(b"a\r\n\r\nb\n", 2), 1);
        assert_eq!(blank_lines_at(b"\n\nh\n", 0), 2);
    }

    #[test]
    fn row_counter_follows_csv_positions() {
        let data = b"h1,h2\na,\"x\ny\"\n\nb,c\r\n\r\nd,e\n";
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&data[..]);
        let mut record = ByteRecord::new();
        let mut rows = RowCounter::default();
        let mut seen = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            seen.push(rows.next(&record, data));
        }
        assert_eq!(seen, [1, 2, 4, 6]);
    }

    #[test]
    fn column_letters_count_like_a_spreadsheet() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn the_line_counter_agrees_with_line_of_anywhere() {
        for text in [&b"a\nb\r\nc\n\nd"[..], b"a\rb\rc", b"", b"x\n"] {
            let mut forward = LineCounter::default();
            for at in 0..=text.len() + 1 {
                assert_eq!(
                    forward.line_of(text, at),
                    line_of(text, at),
                    "{text:?} at {at}"
                );
            }
            let mut jumping = LineCounter::default();
            for at in [3, 1, 4, 0, 2] {
                assert_eq!(
                    jumping.line_of(text, at),
                    line_of(text, at),
                    "{text:?} at {at}"
                );
            }
        }
    }
}
