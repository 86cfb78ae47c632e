//! `iaup` as a drop-in for `ia`: remote names of directories and files in every shape `ia 5.12`
//! was observed to handle, positional and in a spreadsheet, and the shapes where `ia`'s result
//! is broken (absolute paths, `..`, `a//b`), where iaup decides on purpose.

use crate::harness::*;

/// The tree every shape test uploads from.
fn kyiv(bed: &Bed) {
    bed.file("kyiv/scans/page-001.tif", b"page one");
    bed.file("kyiv/scans/sub/page-002.tif", b"page two");
    bed.file("kyiv/top.txt", b"top");
}

/// The keys of the item's original files, sorted.
fn keys(bed: &Bed, id: &str) -> Vec<String> {
    let mut keys: Vec<String> = bed
        .emu
        .item(id)
        .map(|i| {
            i.files
                .iter()
                .filter(|f| f.source == "original")
                .map(|f| f.name.clone())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Uploads `arg` positionally (from `cwd` under the work dir) and returns the keys.
fn positional(bed: &Bed, id: &str, cwd: &str, args: &[&str]) -> Vec<String> {
    let o = bed
        .cmd()
        .current_dir(bed.path(cwd))
        .args(["upload", id, "-q", "--no-journal"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    keys(bed, id)
}

/// Uploads `cell` as the `file` cell of a one-row sheet and returns the keys.
fn in_sheet(bed: &Bed, id: &str, cell: &str) -> Vec<String> {
    let sheet = format!("identifier,file,title\n{id},{cell},T\n");
    bed.file(&format!("{id}.csv"), sheet.as_bytes());
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            &format!("{id}.csv"),
            "-q",
            "--no-journal",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{cell}: {}", stderr(&o));
    keys(bed, id)
}

const SCANS: [&str; 2] = ["kyiv/scans/page-001.tif", "kyiv/scans/sub/page-002.tif"];

// What `ia 5.12` stores, observed on the wire: a directory without a trailing slash keeps the
// path as given (`./` dropped); with a trailing slash, its contents.
#[test]
fn directory_keys_match_ia_positionally() {
    let bed = Bed::new();
    kyiv(&bed);
    assert_eq!(positional(&bed, "dk-a", ".", &["kyiv/scans"]), SCANS);
    assert_eq!(positional(&bed, "dk-b", ".", &["./kyiv/scans"]), SCANS);
    assert_eq!(
        positional(&bed, "dk-c", ".", &["kyiv"]),
        [SCANS[0], SCANS[1], "kyiv/top.txt"]
    );
    assert_eq!(
        positional(&bed, "dk-d", ".", &["kyiv/scans/"]),
        ["page-001.tif", "sub/page-002.tif"]
    );
    // A plain file: its name, or the path as given with --keep-directories.
    assert_eq!(
        positional(&bed, "dk-e", ".", &["kyiv/top.txt"]),
        ["top.txt"]
    );
    assert_eq!(
        positional(&bed, "dk-f", ".", &["./kyiv/top.txt", "--keep-directories"]),
        ["kyiv/top.txt"]
    );
}

#[test]
fn directory_keys_match_ia_in_a_spreadsheet() {
    let bed = Bed::new();
    kyiv(&bed);
    assert_eq!(in_sheet(&bed, "ds-a", "kyiv/scans"), SCANS);
    assert_eq!(in_sheet(&bed, "ds-b", "./kyiv/scans"), SCANS);
    assert_eq!(
        in_sheet(&bed, "ds-c", "kyiv/scans/"),
        ["page-001.tif", "sub/page-002.tif"]
    );
    assert_eq!(in_sheet(&bed, "ds-d", "kyiv/top.txt"), ["top.txt"]);
}

// Where `ia`'s result is broken, iaup decides: `ia` sends an absolute folder's whole local path
// as the key (`/home/me/kyiv/scans/...`); iaup keeps the folder's own name. `ia` keeps `//` in
// keys; iaup collapses it. `ia` lets `..` climb out of the item's URL; iaup refuses a path with
// `..` (exit 2, nothing sent) and never sends a key with `..` or an empty segment.
#[test]
fn broken_ia_shapes_are_decided_and_never_send_dot_dot_or_empty_segments() {
    let bed = Bed::new();
    kyiv(&bed);
    let abs = bed.path("kyiv/scans").display().to_string();
    assert_eq!(
        positional(&bed, "db-a", ".", &[&abs]),
        ["scans/page-001.tif", "scans/sub/page-002.tif"]
    );
    assert_eq!(
        positional(&bed, "db-b", ".", &[&format!("{abs}/")]),
        ["page-001.tif", "sub/page-002.tif"]
    );
    assert_eq!(positional(&bed, "db-c", ".", &["kyiv//scans"]), SCANS);
    for (cwd, arg) in [("kyiv/scans", "../scans"), (".", "kyiv/../kyiv/scans")] {
        let o = bed
            .cmd()
            .current_dir(bed.path(cwd))
            .args(["upload", "db-d", "-q", "--no-journal", arg])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{arg}: {}", stderr(&o));
        assert!(stderr(&o).contains("`..`"), "{}", stderr(&o));
    }
    assert!(bed
        .puts()
        .iter()
        .all(|r| !r.path.contains("/../") && !r.path.contains("//")));
    assert!(bed.emu.item("db-d").is_none());
}
