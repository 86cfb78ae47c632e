//! `iaup search`, `iaup list` and `iaup tasks` against the emulator with seeded items: seed
//! 004's harvest query as written, paging over more than one scrape page, counts, refused
//! queries, file lists with combined filters and quoted URLs, missing items, and tasks listed
//! and waited for.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ias3_emulator::SeedFile;
use serde_json::{json, Value};

use crate::harness::*;

const SEED_004: &str = "collection:biodiversity AND oai_updatedate:[2008-06-01 TO 2008-06-13]";

/// Two items inside seed 004's window (one with a list of dates, one on the last day), and
/// three outside it (a day late, another collection, no date in the range).
fn seed_biodiversity(bed: &Bed) {
    let items = [
        (
            "bio_in_1",
            json!({"collection": "biodiversity",
                   "oai_updatedate": ["2008-06-05T12:00:00Z", "2009-02-01T00:00:00Z"]}),
        ),
        (
            "bio_in_2",
            json!({"collection": ["biodiversity", "americana"],
                   "oai_updatedate": "2008-06-13T23:10:00Z"}),
        ),
        (
            "bio_late",
            json!({"collection": "biodiversity", "oai_updatedate": "2008-06-14T00:00:00Z"}),
        ),
        (
            "other_in_window",
            json!({"collection": "americana", "oai_updatedate": "2008-06-05T00:00:00Z"}),
        ),
        (
            "bio_old",
            json!({"collection": "biodiversity", "oai_updatedate": ["2007-01-01T00:00:00Z"]}),
        ),
    ];
    for (id, meta) in items {
        bed.emu
            .seed_item(id, meta, vec![SeedFile::original("a.txt", "a")])
            .unwrap();
    }
}

fn run(bed: &Bed, args: &[&str]) -> std::process::Output {
    let o = bed.cmd().args(args).output().unwrap();
    assert_no_secret(&o);
    o
}

fn lines(o: &std::process::Output) -> Vec<String> {
    stdout(o).lines().map(str::to_owned).collect()
}

fn scrapes(bed: &Bed) -> Vec<String> {
    bed.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/services/search/v1/scrape"))
        .map(|r| r.path)
        .collect()
}

#[test]
fn seed_004_query_lists_identifiers_as_written() {
    let bed = Bed::new();
    seed_biodiversity(&bed);
    // No keys needed to search.
    let o = bed
        .bare()
        .args(["search", SEED_004, "--itemlist"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), ["bio_in_1", "bio_in_2"]);
    // Identifiers are also the default without --itemlist, through the alias.
    let o = run(&bed, &["se", SEED_004]);
    assert_eq!(lines(&o), ["bio_in_1", "bio_in_2"]);
    assert!(
        scrapes(&bed).iter().all(|p| p.contains("count=10000")),
        "{:?}",
        scrapes(&bed)
    );
}

#[test]
fn seed_004_query_with_fields_gives_json_lines_with_lists() {
    let bed = Bed::new();
    seed_biodiversity(&bed);
    let o = run(&bed, &["search", SEED_004, "-f", "oai_updatedate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<Value> = lines(&o)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            json!({"identifier": "bio_in_1",
                   "oai_updatedate": ["2008-06-05T12:00:00Z", "2009-02-01T00:00:00Z"]}),
            json!({"identifier": "bio_in_2", "oai_updatedate": "2008-06-13T23:10:00Z"}),
        ]
    );
    // Several fields, comma-split and repeated; a field an item lacks is left out.
    let o = run(
        &bed,
        &[
            "search",
            "identifier:bio_in_2",
            "-f",
            "collection,title",
            "-f",
            "nope",
        ],
    );
    let row: Value = serde_json::from_str(lines(&o)[0].as_str()).unwrap();
    assert_eq!(row["collection"], json!(["biodiversity", "americana"]));
    assert_eq!(row["title"], "bio_in_2");
    assert!(row.get("nope").is_none(), "{row}");
    assert!(scrapes(&bed)
        .last()
        .unwrap()
        .contains("fields=identifier%2Ccollection%2Ctitle%2Cnope"));
}

#[test]
fn paging_returns_every_item_once_and_counts_match() {
    let bed = Bed::new();
    for n in 0..250 {
        bed.emu
            .seed_item(
                &format!("page_{n:03}"),
                json!({"collection": "paged"}),
                vec![],
            )
            .unwrap();
    }
    let o = run(&bed, &["search", "collection:paged", "-p", "count:100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = lines(&o);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(got.len(), 250);
    assert_eq!(unique.len(), 250, "no identifier twice");
    assert!((0..250).all(|n| unique.contains(&format!("page_{n:03}"))));
    let pages = scrapes(&bed);
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(!pages[0].contains("cursor="));
    assert!(pages[1..].iter().all(|p| p.contains("cursor=")));
    assert!(pages
        .iter()
        .all(|p| p.contains("count=100") && !p.contains("count=10000")));
    assert!(!stderr(&o).contains("note:"), "no drift: {}", stderr(&o));

    let o = run(&bed, &["search", "collection:paged", "-n"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(lines(&o), ["250"]);
    assert!(scrapes(&bed).last().unwrap().contains("total_only=true"));
}

#[test]
fn sorts_and_one_advancedsearch_page() {
    let bed = Bed::new();
    for (id, downloads) in [("s_a", 5), ("s_b", 50), ("s_c", 1)] {
        bed.emu
            .seed_item(
                id,
                json!({"collection": "sorted", "downloads": downloads}),
                vec![],
            )
            .unwrap();
    }
    let o = run(
        &bed,
        &["search", "collection:sorted", "-s", "downloads desc"],
    );
    assert_eq!(lines(&o), ["s_b", "s_a", "s_c"]);
    // rows/page: one page of advancedsearch.php, as ia.
    let o = run(
        &bed,
        &[
            "search",
            "collection:sorted",
            "-s",
            "identifier desc",
            "-p",
            "rows:2",
            "-p",
            "page:1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), ["s_c", "s_b"]);
    let last = bed.requests().pop().unwrap();
    assert!(
        last.path.starts_with("/advancedsearch.php?"),
        "{}",
        last.path
    );
    assert!(last.path.contains("rows=2") && last.path.contains("output=json"));
    let o = run(&bed, &["search", "collection:sorted", "-n", "-p", "rows:1"]);
    assert_eq!(lines(&o), ["3"]);
}

#[test]
fn bad_queries_exit_2_naming_the_query_and_no_hits_exit_1() {
    let bed = Bed::new();
    seed_biodiversity(&bed);
    let o = run(&bed, &["search", "collection:(biodiversity"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("archive.org refused the search `collection:(biodiversity`"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
    // The scrape API refuses to sort by oai_updatedate (ia#226): its reason is shown.
    let o = run(&bed, &["search", SEED_004, "-s", "oai_updatedate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("sort field 'oai_updatedate' is not a valid search field"),
        "{}",
        stderr(&o)
    );
    let o = run(&bed, &["search", "-p", "rows", "collection:x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("KEY:VALUE"), "{}", stderr(&o));

    let o = run(&bed, &["search", "collection:nothing_here"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("no item matches `collection:nothing_here`"));
    // A count of zero is an answer.
    let o = run(&bed, &["search", "collection:nothing_here", "-n"]);
    assert_eq!(
        (o.status.code(), lines(&o)),
        (Some(0), vec!["0".to_owned()])
    );
}

/// An item with an original JPEG whose name needs quoting, its derivative, a text file, a
/// MARC record and a history copy.
fn seed_files(bed: &Bed) {
    bed.emu
        .seed_item(
            "harvest1",
            json!({"collection": "biodiversity", "title": "Harvest"}),
            vec![
                SeedFile::original("scan 1#a.jpg", "jpeg bytes").mtime(1_212_000_000),
                SeedFile::derivative("scan 1#a_thumb.jpg", "thumb", "scan 1#a.jpg")
                    .format("JPEG Thumb"),
                SeedFile::original("notes.txt", "notes"),
                SeedFile::metadata("harvest1_marc.xml", "<record/>").format("MARC"),
                SeedFile::original("history/files/notes.txt.~1~", "old"),
            ],
        )
        .unwrap();
}

#[test]
fn list_prints_names_columns_and_json() {
    let bed = Bed::new();
    seed_files(&bed);
    let o = run(&bed, &["list", "harvest1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut names = lines(&o);
    names.sort();
    assert_eq!(
        names,
        [
            "harvest1_files.xml",
            "harvest1_marc.xml",
            "harvest1_meta.xml",
            "notes.txt",
            "scan 1#a.jpg",
            "scan 1#a_thumb.jpg"
        ],
        "history copies only with --history"
    );
    let o = run(&bed, &["ls", "harvest1", "--history", "-g", "history/*"]);
    assert_eq!(lines(&o), ["history/files/notes.txt.~1~"]);

    let o = run(
        &bed,
        &[
            "list",
            "harvest1",
            "-v",
            "-c",
            "name,size",
            "-c",
            "md5",
            "-g",
            "*.txt",
        ],
    );
    assert_eq!(
        lines(&o),
        [
            "name\tsize\tmd5".to_owned(),
            format!("notes.txt\t5\t{}", md5_hex(b"notes")),
        ]
    );
    let o = run(
        &bed,
        &["list", "harvest1", "--json", "-a", "-g", "scan 1#a.jpg"],
    );
    let row: Value = serde_json::from_str(lines(&o)[0].as_str()).unwrap();
    assert_eq!(row["name"], "scan 1#a.jpg");
    assert_eq!(row["mtime"], "1212000000");
    assert_eq!(row["format"], "JPEG");
    assert!(row["sha1"].is_string() && row["crc32"].is_string(), "{row}");
    // -a: name first.
    let o = run(&bed, &["list", "harvest1", "-a", "-v", "-g", "notes.txt"]);
    assert!(lines(&o)[0].starts_with("name\t"), "{}", stdout(&o));
}

#[test]
fn list_filters_combine_with_and_and_locations_are_quoted() {
    let bed = Bed::new();
    seed_files(&bed);
    // The glob matches four files; the format and the source each narrow it: all must hold.
    let o = run(
        &bed,
        &[
            "list",
            "harvest1",
            "-g",
            "*.jpg|*.xml",
            "--exclude",
            "*_files.xml",
            "-f",
            "JPEG",
            "-f",
            "MARC",
            "--source",
            "original",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o), ["scan 1#a.jpg"]);
    let o = run(
        &bed,
        &[
            "list",
            "harvest1",
            "--source",
            "metadata",
            "--exclude",
            "*_files.xml|*_meta.xml",
        ],
    );
    assert_eq!(lines(&o), ["harvest1_marc.xml"]);

    let o = run(
        &bed,
        &[
            "list", "harvest1", "-l", "-g", "scan*", "--source", "original",
        ],
    );
    let url = format!("{}/download/harvest1/scan%201%23a.jpg", bed.emu.url());
    assert_eq!(lines(&o), std::slice::from_ref(&url));
    // The URL works as printed.
    let body = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    });
    assert_eq!(body, "jpeg bytes");
    // With several items, `identifier` and `location` columns tell rows apart.
    let o = run(
        &bed,
        &[
            "list",
            "harvest1",
            "-c",
            "identifier,name,location",
            "-g",
            "notes.txt",
        ],
    );
    assert_eq!(
        lines(&o),
        [format!(
            "harvest1\tnotes.txt\t{}/download/harvest1/notes.txt",
            bed.emu.url()
        )]
    );
}

#[test]
fn list_names_a_missing_item_and_still_lists_the_others() {
    let bed = Bed::new();
    seed_files(&bed);
    let o = run(
        &bed,
        &["list", "no-such-item", "harvest1", "-g", "notes.txt"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(lines(&o), ["notes.txt"]);
    assert!(
        stderr(&o).contains("no-such-item: no such item"),
        "{}",
        stderr(&o)
    );
    let o = run(&bed, &["list", "harvest1", "-g", "*.pdf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("harvest1: no file matches the filters"));
    let o = run(&bed, &["list", "harvest1", "-g", "a["]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid pattern"), "{}", stderr(&o));
}

fn seed_task_item(bed: &Bed, id: &str) {
    bed.emu
        .seed_item(id, json!({"collection": "biodiversity"}), vec![])
        .unwrap();
}

#[test]
fn tasks_lists_running_and_errored_tasks_and_exits_1_on_error() {
    let bed = Bed::new();
    seed_task_item(&bed, "tasky");
    let done = bed
        .emu
        .seed_task("tasky", "archive.php", json!({}), Duration::ZERO, false)
        .unwrap();
    let running = bed
        .emu
        .seed_task(
            "tasky",
            "derive.php",
            json!({}),
            Duration::from_secs(600),
            false,
        )
        .unwrap();
    let red = bed
        .emu
        .seed_task(
            "tasky",
            "book_op.php",
            json!({"op": "x"}),
            Duration::ZERO,
            true,
        )
        .unwrap();
    let o = run(&bed, &["tasks", "tasky"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let table = lines(&o);
    assert_eq!(table.len(), 3, "{table:?}");
    let header: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["identifier", "task_id", "state", "cmd", "submittime"]
    );
    let row = |l: &str| {
        l.split_whitespace()
            .take(4)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row(&table[1]),
        ["tasky", &red.to_string(), "error", "book_op.php"],
        "newest first"
    );
    assert_eq!(
        row(&table[2]),
        ["tasky", &running.to_string(), "running", "derive.php"]
    );
    assert!(
        stderr(&o).contains(&format!("tasky: task {red} (book_op.php")),
        "{}",
        stderr(&o)
    );

    let o = run(&bed, &["ta", "tasky", "--history", "--json"]);
    let rows: Vec<Value> = lines(&o)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<u64> = rows
        .iter()
        .map(|r| r["task_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [red, running, done]);
    assert_eq!(rows[0]["wait_admin"], 2);
    assert_eq!(rows[0]["args"], json!({"op": "x"}));
    assert!(rows[2]["finished"].is_string());

    // The Tasks API needs keys: without them, exit 2 before anything is sent.
    std::fs::remove_file(bed.config_path()).unwrap();
    let before = bed.requests().len();
    let o = bed.bare().args(["tasks", "tasky"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(bed.requests().len(), before);
}

#[test]
fn tasks_wait_returns_when_the_task_finishes() {
    let bed = Bed::new();
    seed_task_item(&bed, "waity");
    seed_task_item(&bed, "idle-item");
    bed.emu
        .seed_task(
            "waity",
            "derive.php",
            json!({}),
            Duration::from_millis(1500),
            false,
        )
        .unwrap();
    let start = Instant::now();
    let o = run(&bed, &["tasks", "waity", "idle-item", "--wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(start.elapsed() >= Duration::from_millis(1400));
    assert!(
        stderr(&o).contains("waiting: waity: 0 queued, 1 running"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("waiting: waity: 0 queued, 0 running"));
    // Finished: nothing left in the catalog.
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn tasks_wait_exits_1_on_an_errored_task_or_a_timeout() {
    let bed = Bed::new();
    seed_task_item(&bed, "red-item");
    let red = bed
        .emu
        .seed_task("red-item", "derive.php", json!({}), Duration::ZERO, true)
        .unwrap();
    let o = run(&bed, &["tasks", "red-item", "--wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("red-item: task {red} (derive.php")),
        "{}",
        stderr(&o)
    );

    seed_task_item(&bed, "slow-item");
    bed.emu
        .seed_task(
            "slow-item",
            "derive.php",
            json!({}),
            Duration::from_secs(600),
            false,
        )
        .unwrap();
    let start = Instant::now();
    let o = run(
        &bed,
        &["tasks", "slow-item", "--wait", "--wait-timeout", "1"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        stderr(&o).contains("slow-item: still 0 queued, 1 running after waiting 1s"),
        "{}",
        stderr(&o)
    );
}
