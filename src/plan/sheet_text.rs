//! Checks on a spreadsheet's raw text that a CSV reader cannot make: which separator the header
//! line uses (`,`, `;` from European Excel, tab from Google Sheets TSV), where a quote was left
//! open (a CSV reader silently ends such a cell at the end of the file, swallowing every row
//! after it), and whether a multi-line cell holds lines shaped like rows of the sheet (a stray
//! quote that swallowed rows before a later quote closed it).

use std::path::Path;

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
}
