//! Spreadsheets read into plans: the format (BOM, quoted newlines, columns, identifiers,
//! metadata), the files and folders their `file` cells name, and every problem a sheet can have,
//! with the row and column it is reported at.

use super::*;

#[test]
fn bom_cyrillic_title_and_quoted_newline_survive() {
    let fx = Fixture::new();
    fx.file("a.pdf", b"aaaa");
    fx.file("b.pdf", b"bb");
    let sheet = fx.sheet(
        "\u{feff}identifier,file,title,description\n\
         sucho-test-1,{}/a.pdf,\"Бандуристе орле сизий\",\"line one, with comma\nline two\"\n\
         ,{}/b.pdf,,\n",
    );
    let plan = plan_of(&sheet, &opts());
    assert_eq!(plan.items.len(), 1);
    let item = &plan.items[0];
    assert_eq!(item.identifier, "sucho-test-1");
    assert_eq!(
        item.metadata.get("title"),
        Some(&strings(&["Бандуристе орле сизий"])[..])
    );
    assert_eq!(
        item.metadata.get("description"),
        Some(&strings(&["line one, with comma\nline two"])[..])
    );
    assert_eq!(keys(item), ["a.pdf", "b.pdf"]);
    // The quoted newline does not shift the next row's number.
    assert_eq!(rows(item), [Some(2), Some(3)]);
    assert_eq!(item.total_bytes, 6);
    assert_eq!((plan.file_count(), plan.total_bytes()), (2, 6));
}

#[test]
fn bom_before_a_quoted_header_is_stripped() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let sheet = fx.sheet("\u{feff}\"identifier\",\"file\"\r\nitem-one,{}/a.txt\r\n");
    let plan = plan_of(&sheet, &opts());
    assert_eq!(plan.items[0].identifier, "item-one");
    assert_eq!(keys(&plan.items[0]), ["a.txt"]);
}

#[test]
fn indexed_columns_form_one_list_in_index_order() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    // Out-of-order headers, a gap at index 2, a plain column, and upper case.
    let sheet = fx.sheet(
        "identifier,file,subject[1],Subject[0],subject[3],subject,language\n\
         item-one,{}/a.txt,b,a,d,plain,ukr\n",
    );
    let plan = plan_of(&sheet, &opts());
    let meta = &plan.items[0].metadata;
    assert_eq!(
        meta.get("subject"),
        Some(&strings(&["plain", "a", "b", "d"])[..])
    );
    // Fields keep the order of their first column.
    let names: Vec<&str> = meta.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["subject", "language"]);
}

#[test]
fn seed_style_subject_columns_in_order() {
    let fx = Fixture::new();
    fx.file("articles/ArticleFiles_1258.pdf", b"%PDF");
    let sheet = fx.sheet(
        "identifier,file,REMOTE_NAME,subject[0],subject[1],subject[2],subject[3],collection\n\
         sucho-id-ArticleFiles_1258,{}/articles/ArticleFiles_1258.pdf,ArticleFiles_1258.pdf,\
         SUCHO,Dudaryk Choir Music Library,composition,choir music,opensource\n",
    );
    let plan = plan_of(&sheet, &opts());
    let item = &plan.items[0];
    assert_eq!(
        item.metadata.get("subject"),
        Some(
            &strings(&[
                "SUCHO",
                "Dudaryk Choir Music Library",
                "composition",
                "choir music"
            ])[..]
        )
    );
    assert_eq!(keys(item), ["ArticleFiles_1258.pdf"]);
}

#[test]
fn blank_identifier_continues_and_later_rows_rejoin_their_item() {
    let fx = Fixture::new();
    for name in ["1.txt", "2.txt", "3.txt", "4.txt"] {
        fx.file(name, name.as_bytes());
    }
    let sheet = fx.sheet(
        "identifier,file,title\n\
         item-a,{}/1.txt,A\n\
         ,{}/2.txt,\n\
         item-b,{}/3.txt,B\n\
         item-a,{}/4.txt,A\n",
    );
    let plan = plan_of(&sheet, &opts());
    let ids: Vec<&str> = plan.items.iter().map(|i| i.identifier.as_str()).collect();
    assert_eq!(ids, ["item-a", "item-b"]);
    assert_eq!(keys(&plan.items[0]), ["1.txt", "2.txt", "4.txt"]);
    assert_eq!(rows(&plan.items[0]), [Some(2), Some(3), Some(5)]);
    assert_eq!(keys(&plan.items[1]), ["3.txt"]);
    assert_eq!(
        plan.items[0].metadata.get("title"),
        Some(&strings(&["A"])[..])
    );
    assert_eq!(
        plan.items[1].metadata.get("title"),
        Some(&strings(&["B"])[..])
    );
    assert_eq!(plan.items[0].total_bytes, 15);
}

#[test]
fn item_column_is_an_alias_for_identifier() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    fx.file("b.txt", b"y");
    let sheet = fx.sheet("Item,File,title\nitem-one,{}/a.txt,T\n,{}/b.txt,\n");
    let plan = plan_of(&sheet, &opts());
    assert_eq!(plan.items.len(), 1);
    assert_eq!(plan.items[0].identifier, "item-one");
    assert_eq!(keys(&plan.items[0]), ["a.txt", "b.txt"]);
    // Neither `item` nor `file` leaks into the metadata.
    let names: Vec<&str> = plan.items[0].metadata.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["title"]);
}

#[test]
fn identifier_and_item_must_agree_when_both_are_filled() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    fx.file("b.txt", b"x");
    let sheet = fx.sheet(
        "identifier,item,file\n\
         item-one,item-one,{}/a.txt\n\
         item-two,item-three,{}/b.txt\n",
    );
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = find(
        &problems,
        Some(3),
        "`item-two`, but the `item` cell says `item-three`",
    );
    assert_eq!(p.column.as_deref(), Some("identifier"));
}

#[test]
fn remote_name_names_a_file_and_prefixes_a_folder() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    fx.file("d/x.txt", b"x");
    fx.file("d/sub/y.txt", b"y");
    let sheet = fx.sheet(
        "identifier,file,REMOTE_NAME\n\
         item-one,{}/a.txt,renamed/a b.txt\n\
         ,{}/d,pre/\n\
         ,{}/d/x.txt,\n",
    );
    let plan = plan_of(&sheet, &opts());
    assert_eq!(
        keys(&plan.items[0]),
        ["renamed/a b.txt", "pre/sub/y.txt", "pre/x.txt", "x.txt"]
    );
    // REMOTE_NAME is not metadata.
    assert!(plan.items[0].metadata.is_empty());
}

#[test]
fn folders_are_walked_in_name_order_with_and_without_trailing_slash() {
    let fx = Fixture::new();
    fx.file("d/b.txt", b"bb");
    fx.file("d/a.txt", b"a");
    fx.file("d/.hidden", b"h");
    fx.file("d/sub/c.txt", b"ccc");
    let dir = fx.cell("d");
    let sheet = fx.sheet(&format!(
        "identifier,file\nitem-one,{dir}\nitem-two,{dir}/\n"
    ));
    let plan = plan_of(&sheet, &opts());
    assert_eq!(
        keys(&plan.items[0]),
        ["d/.hidden", "d/a.txt", "d/b.txt", "d/sub/c.txt"]
    );
    assert_eq!(
        keys(&plan.items[1]),
        [".hidden", "a.txt", "b.txt", "sub/c.txt"]
    );
    let first = &plan.items[0].files[1];
    assert_eq!(first.local, Path::new(&dir).join("a.txt"));
    assert_eq!(first.size, 1);
    assert_eq!(first.row, Some(2));
    let modified = fs::metadata(&first.local).unwrap().modified().unwrap();
    let nanos = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert_eq!(first.mtime_ns, i64::try_from(nanos).unwrap());
    assert_eq!(plan.items[0].total_bytes, 7);
}

#[test]
fn keep_directories_keeps_the_given_path() {
    let fx = Fixture::new();
    fx.file("data/d/x.txt", b"x");
    fx.file("data/f.txt", b"f");
    let sheet =
        fx.sheet("identifier,file\nitem-one,{}/data/d\n,{}/./data/f.txt\nitem-two,{}/data/d/\n");
    let opts = PlanOptions {
        keep_directories: true,
        ..PlanOptions::default()
    };
    let plan = plan_of(&sheet, &opts);
    let root = fx
        .cell("")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(
        keys(&plan.items[0]),
        [format!("{root}/data/d/x.txt"), format!("{root}/data/f.txt")]
    );
    // A trailing slash still means "the contents".
    assert_eq!(keys(&plan.items[1]), ["x.txt"]);
}

#[test]
fn relative_paths_are_from_the_current_directory() {
    // Tests run in the package root, which holds this file.
    let given = PathBuf::from("./src/plan/tests/sheet.rs");
    let plan = from_args("item-one", std::slice::from_ref(&given), None, &opts()).unwrap();
    assert_eq!(keys(&plan.items[0]), ["sheet.rs"]);
    assert_eq!(plan.items[0].files[0].local, given);
    let keep = PlanOptions {
        keep_directories: true,
        ..PlanOptions::default()
    };
    let plan = from_args("item-one", std::slice::from_ref(&given), None, &keep).unwrap();
    assert_eq!(keys(&plan.items[0]), ["src/plan/tests/sheet.rs"]);
    // A folder keeps its path as given, as `ia` does.
    let plan = from_args("item-one", &[PathBuf::from("src/plan")], None, &opts()).unwrap();
    assert!(keys(&plan.items[0]).contains(&"src/plan/tests/sheet.rs"));
}

#[test]
fn options_metadata_applies_to_every_item_and_cells_win() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    fx.file("b.txt", b"x");
    let sheet = fx.sheet(
        "identifier,file,title\n\
         item-a,{}/a.txt,Cell title\n\
         item-b,{}/b.txt,\n",
    );
    let opts = with_meta(&[
        ("collection", "opensource"),
        ("subject", "one"),
        ("title", "Option title"),
        ("subject", "two"),
        ("language[1]", "eng"),
        ("language[0]", "ukr"),
    ]);
    let plan = plan_of(&sheet, &opts);
    let a = &plan.items[0].metadata;
    let b = &plan.items[1].metadata;
    assert_eq!(a.get("title"), Some(&strings(&["Cell title"])[..]));
    assert_eq!(b.get("title"), Some(&strings(&["Option title"])[..]));
    for meta in [a, b] {
        assert_eq!(meta.get("subject"), Some(&strings(&["one", "two"])[..]));
        assert_eq!(meta.get("language"), Some(&strings(&["ukr", "eng"])[..]));
        assert_eq!(meta.get("collection"), Some(&strings(&["opensource"])[..]));
    }
    let names: Vec<&str> = a.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["collection", "subject", "title", "language"]);
}

#[test]
fn all_problems_are_collected_in_one_run_and_sorted_by_row() {
    let fx = Fixture::new();
    fx.file("ok.txt", b"x");
    fx.file("one/same.txt", b"x");
    fx.file("two/same.txt", b"x");
    let mut text = String::from(
        "identifier,file,title,bad name,subject[1],subject[01]\n\
         item-ok,{}/ok.txt,T,,,\n\
         ,{}/missing.txt,,,,\n\
         ,,,,,\n\
         ,,T,,,\n\
         bad id!,{}/ok.txt,,,,\n\
         item-ok,{}/ok.txt,Other,,,,extra\n\
         item-ok,{}/ok.txt,Other,,,\n\
         item-two,{}/one/same.txt,,,,\n\
         ,{}/two/same.txt,,,,\n",
    )
    .replace("{}", &fx.dir.path().display().to_string());
    text.push_str("item-two,");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe.txt,,,,\n");
    let sheet = fx.sheet_bytes(&bytes);
    let opts = with_meta(&[("bad key", "v")]);
    let problems = problems_of(&sheet, &opts);

    // Command-line problems first (no row), then by row.
    assert!(problems[0].row.is_none() && problems[0].message.contains("`-m bad key:v`"));
    let found_rows: Vec<Option<usize>> = problems.iter().map(|p| p.row).collect();
    let mut sorted = found_rows.clone();
    sorted.sort();
    assert_eq!(found_rows, sorted);

    let p = find(&problems, Some(1), "invalid metadata field name `bad name`");
    assert_eq!(p.column.as_deref(), Some("bad name"));
    let p = find(
        &problems,
        Some(1),
        "the field appears twice (columns E and F)",
    );
    assert_eq!(p.column.as_deref(), Some("subject[01]"));

    let p = find(&problems, Some(3), "does not exist");
    assert_eq!(p.column.as_deref(), Some("file"));
    assert!(p.message.contains("missing.txt"), "{p}");
    assert!(
        p.hint.as_deref().unwrap().contains("current directory"),
        "{p}"
    );
    assert_eq!(p.file.as_deref(), Some(sheet.as_path()));

    // Row 4 is all empty: skipped. Row 5 has an empty file cell.
    assert!(problems.iter().all(|p| p.row != Some(4)), "{problems:#?}");
    let p = find(&problems, Some(5), "the cell is empty");
    assert_eq!(p.column.as_deref(), Some("file"));

    let p = find(&problems, Some(6), "invalid identifier `bad id!`");
    assert!(p.message.contains("a space"), "{p}");
    assert_eq!(p.column.as_deref(), Some("identifier"));

    let p = find(&problems, Some(7), "the row has 7 cells, the header has 6");
    assert_eq!(p.column, None);

    let p = find(&problems, Some(8), "two values for `title`");
    assert!(
        p.message.contains("row 2 says \"T\", row 8 says \"Other\""),
        "{p}"
    );
    assert_eq!(p.column.as_deref(), Some("title"));
    // Row 8 also repeats ok.txt in item-ok.
    let p = find(&problems, Some(8), "remote name `ok.txt`");
    assert!(
        p.message.contains("row 2 (") && p.message.contains("row 8 ("),
        "{p}"
    );

    let p = find(&problems, Some(10), "remote name `same.txt`");
    assert!(
        p.message.contains("row 9 (") && p.message.contains("row 10 ("),
        "{p}"
    );

    let p = find(&problems, Some(11), "not valid UTF-8");
    assert_eq!(p.column.as_deref(), Some("file"));

    assert_eq!(problems.len(), 11, "{problems:#?}");
}

#[test]
fn list_fields_compare_the_whole_list() {
    let fx = Fixture::new();
    for name in ["1", "2", "3"] {
        fx.file(name, b"x");
    }
    let sheet = fx.sheet(
        "identifier,file,subject[0],subject[1]\n\
         item-one,{}/1,a,b\n\
         ,{}/2,a,b\n\
         ,{}/3,a,\n",
    );
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = find(&problems, Some(4), "two values for `subject`");
    assert!(
        p.message
            .contains("row 2 says [\"a\", \"b\"], row 4 says \"a\""),
        "{p}"
    );
}

#[test]
fn first_data_row_without_identifier_is_one_problem() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let sheet = fx.sheet("identifier,file\n,{}/a.txt\n,{}/a.txt\n");
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = find(&problems, Some(2), "the first data row has no identifier");
    assert_eq!(p.column.as_deref(), Some("identifier"));
}

#[test]
fn ragged_row_keeps_its_identifier_for_the_rows_below() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let sheet = fx.sheet("identifier,file\nitem-one,{}/a.txt,extra\n,{}/a.txt\n");
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    find(&problems, Some(2), "the row has 3 cells, the header has 2");
}

#[test]
fn row_numbers_count_blank_lines_but_not_quoted_newlines() {
    let fx = Fixture::new();
    let sheet = fx.sheet(
        "identifier,file,description\n\
         item-one,{}/no1,\"a\nb\nc\"\n\
         \n\
         ,{}/no2,\n",
    );
    let problems = problems_of(&sheet, &opts());
    find(&problems, Some(2), "no1");
    find(&problems, Some(4), "no2");
}

#[test]
fn empty_and_unreadable_spreadsheets() {
    let fx = Fixture::new();
    let missing = fx.dir.path().join("nope.csv");
    let problems = from_spreadsheet(&missing, &opts()).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file.as_deref(), Some(missing.as_path()));
    assert!(problems[0].message.contains("cannot read the spreadsheet"));

    let empty = fx.sheet("");
    let problems = from_spreadsheet(&empty, &opts()).unwrap_err();
    find(&problems, None, "the spreadsheet is empty");

    let header_only = fx.sheet("identifier,file,title\n,,\n\n");
    let problems = from_spreadsheet(&header_only, &opts()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    find(&problems, None, "no data rows");

    let folder = fx.mkdir("folder.csv");
    let problems = from_spreadsheet(&folder, &opts()).unwrap_err();
    assert!(problems[0].message.contains("cannot read the spreadsheet"));
}

#[test]
fn header_problems() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let sheet = fx.sheet("title,subject\nT,S\n");
    let problems = problems_of(&sheet, &opts());
    let p = find(&problems, Some(1), "no `file` column");
    assert!(p.hint.as_deref().unwrap().contains("title, subject"), "{p}");
    find(&problems, Some(1), "no `identifier` (or `item`) column");

    let sheet = fx.sheet(
        "identifier,file,remote_name,FILE,title,,identifier[0],title\n\
         item-one,{}/a.txt,x,,T,stray,,\n",
    );
    let problems = problems_of(&sheet, &opts());
    let p = find(&problems, Some(1), "must be spelled `REMOTE_NAME`");
    assert_eq!(p.column.as_deref(), Some("remote_name"));
    let p = find(
        &problems,
        Some(1),
        "the column appears twice (columns B and D)",
    );
    assert_eq!(p.column.as_deref(), Some("FILE"));
    find(&problems, Some(1), "the identifier is not a metadata field");
    find(
        &problems,
        Some(1),
        "the field appears twice (columns E and H)",
    );
    let p = find(&problems, Some(2), "column F has no name");
    assert_eq!(p.column.as_deref(), Some("#6"));
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn unnamed_empty_columns_are_tolerated() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    // Spreadsheet apps often export trailing empty columns.
    let sheet = fx.sheet("identifier,file,,\nitem-one,{}/a.txt,,\n");
    let plan = plan_of(&sheet, &opts());
    assert!(plan.items[0].metadata.is_empty());
}

#[test]
fn non_utf8_cells_name_row_and_column() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let mut bytes = format!("identifier,file,title\nitem-one,{},", fx.cell("a.txt")).into_bytes();
    bytes.extend_from_slice(b"caf\xe9\n");
    let sheet = fx.sheet_bytes(&bytes);
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = find(
        &problems,
        Some(2),
        "not valid UTF-8 (bad byte after 3 valid ones)",
    );
    assert_eq!(p.column.as_deref(), Some("title"));
    assert!(p.hint.as_deref().unwrap().contains("CSV UTF-8"));
}

#[test]
fn non_utf8_identifier_is_one_problem_for_it_and_the_rows_below() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    let mut bytes = b"identifier,file\nit\xe9m,".to_vec();
    bytes.extend_from_slice(format!("{0}\n,{0}\n", fx.cell("a.txt")).as_bytes());
    let sheet = fx.sheet_bytes(&bytes);
    let problems = problems_of(&sheet, &opts());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = find(&problems, Some(2), "not valid UTF-8");
    assert_eq!(p.column.as_deref(), Some("identifier"));
}

#[test]
fn bad_remote_names_are_problems() {
    let fx = Fixture::new();
    fx.file("a.txt", b"x");
    fx.file("b.txt", b"x");
    let sheet = fx.sheet(
        "identifier,file,REMOTE_NAME\n\
         item-one,{}/a.txt,/abs.txt\n\
         ,{}/b.txt,folder/\n",
    );
    let problems = problems_of(&sheet, &opts());
    let p = find(&problems, Some(2), "invalid remote name `/abs.txt`");
    assert_eq!(p.column.as_deref(), Some("REMOTE_NAME"));
    let p = find(&problems, Some(3), "ends with `/`, but");
    assert_eq!(p.column.as_deref(), Some("REMOTE_NAME"));
}

#[test]
fn empty_folder_is_a_problem() {
    let fx = Fixture::new();
    fx.mkdir("empty");
    let sheet = fx.sheet("identifier,file\nitem-one,{}/empty\n");
    let problems = problems_of(&sheet, &opts());
    let p = find(&problems, Some(2), "contains no files");
    assert_eq!(p.column.as_deref(), Some("file"));
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_and_loops_reported() {
    let fx = Fixture::new();
    fx.file("real/x.txt", b"x");
    fx.mkdir("d");
    std::os::unix::fs::symlink(fx.dir.path().join("real"), fx.dir.path().join("d/link")).unwrap();
    let plan = from_args("item-one", &[fx.dir.path().join("d")], None, &opts()).unwrap();
    assert_eq!(keys(&plan.items[0]), ["d/link/x.txt"]);

    std::os::unix::fs::symlink(fx.dir.path().join("d"), fx.dir.path().join("d/loop")).unwrap();
    let problems = from_args("item-one", &[fx.dir.path().join("d")], None, &opts()).unwrap_err();
    let p = find(&problems, None, "symlink loop");
    assert!(p.message.contains("loop"), "{p}");
}

#[test]
fn item_over_one_tib_is_a_problem_naming_it() {
    let file = |size| FilePlan {
        local: PathBuf::from("x"),
        key: format!("k{size}"),
        size,
        mtime_ns: 0,
        row: Some(2),
        identity: FileIdentity::default(),
        file_metadata: Metadata::default(),
    };
    let mut problems = Vec::new();
    let mut item = ItemBuilder::new("big-item", Some(2));
    item.add_file(file(MAX_ITEM_BYTES), None, &mut problems);
    let at_limit = item.finish(&[], Some(Path::new("s.csv")), &mut problems);
    assert!(problems.is_empty());
    assert_eq!(at_limit.total_bytes, MAX_ITEM_BYTES);

    let mut item = ItemBuilder::new("big-item", Some(2));
    item.add_file(file(MAX_ITEM_BYTES), None, &mut problems);
    item.add_file(file(1), None, &mut problems);
    item.finish(&[], Some(Path::new("s.csv")), &mut problems);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].row, Some(2));
    assert!(problems[0]
        .message
        .contains("item `big-item` totals 1099511627777 bytes"));
    assert!(problems[0].message.contains("1 TiB"));
}
