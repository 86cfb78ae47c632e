//! Unit tests of the item rules: derivative names, blob numbering across runs, history copies
//! and cascade deletes.

use super::*;

#[test]
fn derived_names_drop_the_last_extension_only() {
    assert_eq!(derived_name("a.txt"), "a_derived.txt");
    assert_eq!(derived_name("dir.v2/a.tar.gz"), "dir.v2/a.tar_derived.txt");
    assert_eq!(derived_name("dir.v2/README"), "dir.v2/README_derived.txt");
    assert_eq!(derived_name(".hidden"), ".hidden_derived.txt");
}

fn commit(state: &mut State, dir: &Path, key: &str, body: &[u8], keep: bool, derive: bool) {
    let temp = state.temp_path();
    std::fs::write(&temp, body).expect("write temp");
    let _ = dir;
    state
        .commit_put(
            PutCommit {
                identifier: "item1".into(),
                key: key.into(),
                temp,
                size: body.len() as u64,
                md5: hex::encode(Md5::digest(body)),
                item_meta: None,
                replace_meta: false,
                file_meta: Map::new(),
                record: PutRecord {
                    key: key.into(),
                    queue_derive: derive,
                    size_hint: None,
                    keep_old_version: keep,
                },
            },
            TaskRule::default(),
        )
        .expect("commit");
}

#[test]
fn blob_numbers_continue_past_an_earlier_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("blobs")).expect("blobs");
    std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
    std::fs::write(dir.path().join("blobs/00000007"), b"kept").expect("blob");
    std::fs::write(dir.path().join("tmp/upload-9.part"), b"half").expect("temp");
    std::fs::write(dir.path().join("blobs/notes.txt"), b"x").expect("other");
    let mut state = State::new(dir.path(), "me@example.com", 1).expect("state");
    assert_eq!(state.blob_path(), dir.path().join("blobs/00000010"));
    assert!(state.temp_path().ends_with("tmp/upload-11.part"));
}

#[test]
fn history_copies_and_cascade_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = State::new(dir.path(), "me@example.com", 1).expect("state");
    commit(&mut state, dir.path(), "a.txt", b"one", false, false);
    commit(&mut state, dir.path(), "a.txt", b"two", true, false);
    commit(&mut state, dir.path(), "a.txt", b"three", true, true);
    let item = state.item("item1").expect("item");
    let names: Vec<&str> = item.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a.txt",
            "history/files/a.txt.~1~",
            "history/files/a.txt.~2~",
            "a_derived.txt"
        ]
    );
    assert_eq!(item.metadata["uploader"], json!("me@example.com"));
    state
        .delete("item1", "a.txt", false, false)
        .expect("delete");
    assert!(state
        .item("item1")
        .expect("item")
        .find("a_derived.txt")
        .is_some());
    commit(&mut state, dir.path(), "b.txt", b"b", false, true);
    state.delete("item1", "b.txt", true, false).expect("delete");
    assert!(state
        .item("item1")
        .expect("item")
        .find("b_derived.txt")
        .is_none());
}
