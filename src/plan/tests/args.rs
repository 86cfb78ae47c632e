//! Plans from command-line arguments (`from_args`): one item, its paths and `--remote-name`;
//! and how a problem with no row or column is displayed.

use super::*;

#[test]
fn problem_display_omits_absent_parts() {
    let full = Problem::new("the cell is empty")
        .with_file("x.csv")
        .with_row(5)
        .with_column("file")
        .with_hint("fill it");
    assert_eq!(
        full.to_string(),
        "x.csv:5: column `file`: the cell is empty\n  hint: fill it"
    );
    assert_eq!(Problem::new("bare").to_string(), "bare");
    assert_eq!(
        Problem::new("gone").with_file("a.txt").to_string(),
        "a.txt: gone"
    );
    assert_eq!(
        Problem::new("m").with_row(3).with_column("c").to_string(),
        "row 3: column `c`: m"
    );
}

#[test]
fn args_single_file_with_remote_name() {
    let fx = Fixture::new();
    let a = fx.file("a.txt", b"hello");
    let plan = from_args(
        "item-one",
        std::slice::from_ref(&a),
        Some("docs/hello.txt"),
        &with_meta(&[("title", "Hi"), ("subject", "x"), ("subject", "y")]),
    )
    .unwrap();
    let item = &plan.items[0];
    assert_eq!(item.identifier, "item-one");
    assert_eq!(keys(item), ["docs/hello.txt"]);
    assert_eq!(item.files[0].local, a);
    assert_eq!(item.files[0].row, None);
    assert_eq!(item.total_bytes, 5);
    assert_eq!(
        item.metadata.get("subject"),
        Some(&strings(&["x", "y"])[..])
    );
}

#[test]
fn args_problems_are_all_collected() {
    let fx = Fixture::new();
    let a = fx.file("one/same.txt", b"x");
    let b = fx.file("two/same.txt", b"x");
    let missing = fx.dir.path().join("missing.bin");
    let problems = from_args(
        "-bad",
        &[a.clone(), b.clone(), missing.clone()],
        Some("r.txt"),
        &with_meta(&[("1bad", "x")]),
    )
    .unwrap_err();
    find(&problems, None, "`-m 1bad:x`");
    let p = find(
        &problems,
        None,
        "invalid identifier `-bad`: it starts with `-`",
    );
    assert!(p.hint.as_deref().unwrap().contains("3 to 100"));
    find(
        &problems,
        None,
        "--remote-name names one file, but 3 paths were given",
    );
    let p = find(&problems, None, "remote name `same.txt`");
    assert_eq!(p.file.as_deref(), Some(b.as_path()));
    assert!(p.message.contains(&a.display().to_string()), "{p}");
    let p = find(&problems, None, "does not exist");
    assert_eq!(p.file.as_deref(), Some(missing.as_path()));
    assert_eq!(p.row, None);
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn args_remote_name_on_a_folder_and_no_paths() {
    let fx = Fixture::new();
    fx.file("d/x.txt", b"x");
    let problems =
        from_args("item-one", &[fx.dir.path().join("d")], Some("r"), &opts()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    find(&problems, None, "but this is a folder");

    let problems = from_args("item-one", &[], None, &opts()).unwrap_err();
    find(&problems, None, "no files to upload");
}

#[test]
fn args_folders_follow_the_same_key_rules() {
    let fx = Fixture::new();
    fx.file("d/x.txt", b"x");
    fx.file("d/sub/y.txt", b"yy");
    let with_slash = PathBuf::from(format!("{}/", fx.cell("d")));
    let plan = from_args(
        "item-one",
        &[fx.dir.path().join("d"), with_slash],
        None,
        &opts(),
    )
    .unwrap();
    assert_eq!(
        keys(&plan.items[0]),
        ["d/sub/y.txt", "d/x.txt", "sub/y.txt", "x.txt"]
    );
    assert_eq!(plan.total_bytes(), 6);
    assert_eq!(plan.file_count(), 4);
}
