//! The JSON Patch of `iaup metadata`, computed on the client as `ia` does: flags and spreadsheet
//! cells become [`Change`]s; the changes are resolved once, against the metadata read first, into
//! the final value of every field they touch; the patch is the `json_patch::diff` between the
//! current metadata and the current metadata with those values laid over it (a list that gained
//! or lost one element is one `add` or `remove` at its index, as `ia`'s patches have it).
//!
//! Resolving once and diffing again on every attempt is what makes a retried write idempotent:
//! if an attempt that failed with a 5xx was applied after all, the re-read metadata already has
//! the values and the next diff is empty, where a re-resolved `--append` would append twice.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation};
use serde_json::{Map, Value};

use crate::plan::{parse_key_value, validate_field_name, Problem};

/// The value that deletes a field (`KEY:REMOVE_TAG`) or a list element (`KEY[i]:REMOVE_TAG`).
pub const REMOVE_TAG: &str = "REMOVE_TAG";

const FIELD_NAME_HINT: &str = "metadata field names match `[A-Za-z][.-0-9A-Za-z_]+`, with an \
     optional index such as `subject[0]` for --modify";

/// One requested change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `--modify KEY:VALUE` (a repeated key gives a list) or a spreadsheet cell:
    /// the field becomes exactly these values; `[REMOVE_TAG]` deletes it.
    Set { key: String, values: Vec<String> },
    /// `--modify KEY[i]:VALUE`: element `i` of the list (appended when `i` is past the end);
    /// `REMOVE_TAG` deletes the element. Indexes refer to the list as it was read.
    SetIndex {
        key: String,
        index: usize,
        value: String,
    },
    /// `--insert KEY[i]:VALUE`: VALUE inserted into the list at `i` (moved there if the list
    /// has it; appended when `i` is past the end). Applies to the list as the changes before
    /// it left it.
    Insert {
        key: String,
        index: usize,
        value: String,
    },
    /// `--append KEY:VALUE`: VALUE added to the text of the field after a space.
    Append { key: String, value: String },
    /// `--append-list KEY:VALUE`: VALUE added to the list unless already in it.
    AppendList { key: String, value: String },
    /// `--remove KEY:VALUE`: every element equal to VALUE removed; the field goes when empty.
    Remove { key: String, value: String },
}

impl Change {
    fn key(&self) -> &str {
        match self {
            Change::Set { key, .. }
            | Change::SetIndex { key, .. }
            | Change::Insert { key, .. }
            | Change::Append { key, .. }
            | Change::AppendList { key, .. }
            | Change::Remove { key, .. } => key,
        }
    }
}

/// The final value of one touched field: `None` removes it.
pub type Assignment = (String, Option<Value>);

/// The change flags as given, one list per flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags<'a> {
    pub modify: &'a [String],
    pub insert: &'a [String],
    pub append: &'a [String],
    pub append_list: &'a [String],
    pub remove: &'a [String],
}

/// The change flags, in the order they apply: `--modify`, `--insert`, `--append`,
/// `--append-list`, `--remove` (each in the order given). Every problem is collected.
pub fn parse_flags(flags: Flags<'_>) -> (Vec<Change>, Vec<Problem>) {
    let Flags {
        modify,
        insert,
        append,
        append_list,
        remove,
    } = flags;
    let mut changes: Vec<Change> = Vec::new();
    let mut problems = Vec::new();
    for arg in modify {
        let Some((base, index, value)) = parse_one(arg, "--modify", true, &mut problems) else {
            continue;
        };
        match index {
            Some(index) => {
                let clash = changes.iter().find_map(|c| match c {
                    Change::SetIndex {
                        key,
                        index: i,
                        value: v,
                    } if *key == base && *i == index && *v != value => Some(v.clone()),
                    _ => None,
                });
                match clash {
                    Some(old) => problems.push(
                        Problem::new(format!(
                            "`--modify {arg}`: `{base}[{index}]` is already set to {old:?}"
                        ))
                        .with_hint("give each index once"),
                    ),
                    None => changes.push(Change::SetIndex {
                        key: base,
                        index,
                        value,
                    }),
                }
            }
            None => {
                let existing = changes.iter_mut().find_map(|c| match c {
                    Change::Set { key, values } if *key == base => Some(values),
                    _ => None,
                });
                match existing {
                    Some(values) if values.contains(&value) => {}
                    Some(values) => values.push(value),
                    None => changes.push(Change::Set {
                        key: base,
                        values: vec![value],
                    }),
                }
            }
        }
    }
    for arg in insert {
        let Some((key, index, value)) = parse_one(arg, "--insert", true, &mut problems) else {
            continue;
        };
        if value == REMOVE_TAG {
            problems.push(
                Problem::new(format!("`--insert {arg}`: {REMOVE_TAG} inserts nothing")).with_hint(
                    format!("to delete an element, write `--modify {key}[N]:{REMOVE_TAG}`"),
                ),
            );
            continue;
        }
        changes.push(Change::Insert {
            key,
            index: index.unwrap_or(0),
            value,
        });
    }
    type Make = fn(String, String) -> Change;
    let modes: [(&[String], &str, Make); 3] = [
        (append, "--append", |key, value| Change::Append {
            key,
            value,
        }),
        (append_list, "--append-list", |key, value| {
            Change::AppendList { key, value }
        }),
        (remove, "--remove", |key, value| Change::Remove {
            key,
            value,
        }),
    ];
    for (args, flag, make) in modes {
        for arg in args {
            if let Some((key, _, value)) = parse_one(arg, flag, false, &mut problems) {
                changes.push(make(key, value));
            }
        }
    }
    (changes, problems)
}

/// Splits and checks one `KEY[:i]:VALUE` argument; `None` after recording a problem.
fn parse_one(
    arg: &str,
    flag: &str,
    indexed: bool,
    problems: &mut Vec<Problem>,
) -> Option<(String, Option<usize>, String)> {
    let (key, value) = match parse_key_value(arg, flag) {
        Ok(kv) => kv,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let mut fail = |message: String, hint: &str| {
        problems.push(Problem::new(format!("`{flag} {arg}`: {message}")).with_hint(hint));
        None
    };
    if let Err(why) = validate_field_name(&key) {
        return fail(
            format!("invalid field name `{key}`: {why}"),
            FIELD_NAME_HINT,
        );
    }
    let (base, index) = match split_index(&key) {
        Ok(split) => split,
        Err(why) => return fail(why, FIELD_NAME_HINT),
    };
    if index.is_some() && !indexed {
        return fail(
            format!("an index like `{key}` only works with --modify and --insert"),
            &format!("write `{flag} {base}:VALUE`"),
        );
    }
    if base.eq_ignore_ascii_case("identifier") {
        return fail(
            "the identifier cannot be changed".to_owned(),
            "an item's identifier is fixed when it is created",
        );
    }
    if value.is_empty() {
        let hint = if flag == "--modify" {
            format!("to delete the field, write `--modify {key}:{REMOVE_TAG}`")
        } else {
            "give a value after the colon".to_owned()
        };
        return fail("the value is empty".to_owned(), &hint);
    }
    Some((base, index, value))
}

/// `subject[2]` as (`subject`, Some(2)); a key without an index as (key, None). The field name
/// must have passed [`validate_field_name`].
pub fn split_index(key: &str) -> Result<(String, Option<usize>), String> {
    match key.strip_suffix(']').and_then(|k| k.split_once('[')) {
        Some((base, index)) => match index.parse::<usize>() {
            Ok(i) => Ok((base.to_owned(), Some(i))),
            Err(_) => Err(format!("the index `[{index}]` is too large")),
        },
        None => Ok((key.to_owned(), None)),
    }
}

/// A field's values as a list: a list as is, a single value as one element, none as empty.
fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// The field after a list operation: unchanged lists keep their original form (a one-element
/// list stays a list), an empty list removes the field, one value is stored as a plain value.
fn from_list(original: Option<&Value>, before: &[Value], mut after: Vec<Value>) -> Option<Value> {
    if after == before {
        return original.cloned();
    }
    match after.len() {
        0 => None,
        1 => after.pop(),
        _ => Some(Value::Array(after)),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves the changes against the current metadata (a JSON object; anything else counts as
/// empty) into the final value of every touched field, in first-touched order. An error when
/// a change cannot apply to what is there (appending text to a list, removing the last
/// collection).
pub fn resolve(changes: &[Change], current: &Value) -> Result<Vec<Assignment>, String> {
    let mut work: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    let mut touched: Vec<String> = Vec::new();
    for (n, change) in changes.iter().enumerate() {
        let key = change.key().to_owned();
        let old = work.get(&key).cloned();
        let new = match change {
            Change::Set { values, .. } => {
                let mut kept: Vec<Value> = values
                    .iter()
                    .filter(|v| *v != REMOVE_TAG)
                    .map(|v| Value::String(v.clone()))
                    .collect();
                match kept.len() {
                    0 => None,
                    1 => kept.pop(),
                    _ => Some(Value::Array(kept)),
                }
            }
            Change::SetIndex { .. } => {
                // All indexes of one field apply together, on the list as it was read.
                if changes[..n]
                    .iter()
                    .any(|c| matches!(c, Change::SetIndex { key: k, .. } if *k == key))
                {
                    continue;
                }
                set_indexes(changes, &key, old.as_ref())
            }
            Change::Insert { index, value, .. } => {
                let before = as_list(old.as_ref());
                let v = Value::String(value.clone());
                let mut list: Vec<Value> = before.iter().filter(|x| **x != v).cloned().collect();
                list.insert((*index).min(list.len()), v);
                from_list(old.as_ref(), &before, list)
            }
            Change::Append { value, .. } => match &old {
                None | Some(Value::Null) => Some(Value::String(value.clone())),
                Some(Value::Array(_)) => {
                    return Err(format!(
                        "`{key}` holds a list; use --append-list to add `{value}` to it"
                    ))
                }
                Some(v) => Some(Value::String(format!("{} {value}", text_of(v)))),
            },
            Change::AppendList { value, .. } => {
                let before = as_list(old.as_ref());
                let mut list = before.clone();
                let v = Value::String(value.clone());
                if !list.contains(&v) {
                    list.push(v);
                }
                from_list(old.as_ref(), &before, list)
            }
            Change::Remove { value, .. } => {
                let before = as_list(old.as_ref());
                let v = Value::String(value.clone());
                let list: Vec<Value> = before.iter().filter(|x| **x != v).cloned().collect();
                if key == "collection" && list.is_empty() && !before.is_empty() {
                    return Err(format!(
                        "removing `{value}` would leave the item in no collection, which IA \
                         does not allow; add the new collection first (--append-list)"
                    ));
                }
                from_list(old.as_ref(), &before, list)
            }
        };
        match new {
            Some(v) => work.insert(key.clone(), v),
            None => work.remove(&key),
        };
        if !touched.contains(&key) {
            touched.push(key);
        }
    }
    Ok(touched
        .into_iter()
        .map(|k| {
            let v = work.get(&k).cloned();
            (k, v)
        })
        .collect())
}

/// Every `KEY[i]:VALUE` of one field, applied together to the list as it was read: values set
/// (or appended past the end) first, then `REMOVE_TAG` elements removed from the highest index.
fn set_indexes(changes: &[Change], key: &str, old: Option<&Value>) -> Option<Value> {
    let mut entries: Vec<(usize, &str)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::SetIndex {
                key: k,
                index,
                value,
            } if k == key => Some((*index, value.as_str())),
            _ => None,
        })
        .collect();
    entries.sort_by_key(|(i, _)| *i);
    let before = as_list(old);
    let mut list = before.clone();
    for &(i, v) in entries.iter().filter(|(_, v)| *v != REMOVE_TAG) {
        match list.get_mut(i) {
            Some(slot) => *slot = Value::String(v.to_owned()),
            None => list.push(Value::String(v.to_owned())),
        }
    }
    let mut removals: Vec<usize> = entries
        .iter()
        .filter(|(_, v)| *v == REMOVE_TAG)
        .map(|(i, _)| *i)
        .collect();
    removals.dedup();
    for i in removals.into_iter().rev() {
        if i < list.len() {
            list.remove(i);
        }
    }
    from_list(old, &before, list)
}

/// The JSON Patch from `current` to `current` with the assignments laid over it; empty when
/// they are already there. A list that gains or loses exactly one element is one `add` or
/// `remove` at that index (what `ia` sends for `--insert` and `--remove`); everything else is
/// `json_patch::diff`'s. Operations are in field-name order.
pub fn diff(current: &Value, assignments: &[Assignment]) -> json_patch::Patch {
    let base: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    let mut desired = base.clone();
    let mut single: Vec<(String, PatchOperation)> = Vec::new();
    for (k, v) in assignments {
        let one = match (base.get(k), v) {
            (Some(Value::Array(old)), Some(Value::Array(new))) => one_element_op(k, old, new),
            _ => None,
        };
        match (one, v) {
            // Left out of the generic diff: this op covers it.
            (Some(op), _) => single.push((k.clone(), op)),
            (None, Some(v)) => {
                desired.insert(k.clone(), v.clone());
            }
            (None, None) => {
                desired.remove(k);
            }
        }
    }
    let mut ops: Vec<(String, PatchOperation)> =
        json_patch::diff(&Value::Object(base), &Value::Object(desired))
            .0
            .into_iter()
            .map(|op| {
                let field = op
                    .path()
                    .tokens()
                    .next()
                    .map(|t| t.decoded().into_owned())
                    .unwrap_or_default();
                (field, op)
            })
            .collect();
    ops.extend(single);
    ops.sort_by(|a, b| a.0.cmp(&b.0));
    json_patch::Patch(ops.into_iter().map(|(_, op)| op).collect())
}

/// `add /key/i` when `new` is `old` with one element inserted at `i`; `remove /key/i` when
/// it is `old` with element `i` taken out.
fn one_element_op(key: &str, old: &[Value], new: &[Value]) -> Option<PatchOperation> {
    let (long, short) = match new.len().checked_sub(old.len()) {
        Some(1) => (new, old),
        _ if old.len().checked_sub(new.len()) == Some(1) => (old, new),
        _ => return None,
    };
    let i = (0..long.len()).find(|&i| long[..i] == short[..i] && long[i + 1..] == short[i..])?;
    let path = PointerBuf::from_tokens([key.to_owned(), i.to_string()]);
    Some(if new.len() > old.len() {
        PatchOperation::Add(AddOperation {
            path,
            value: new[i].clone(),
        })
    } else {
        PatchOperation::Remove(RemoveOperation { path })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn flags(
        modify: &[&str],
        append: &[&str],
        append_list: &[&str],
        remove: &[&str],
    ) -> Vec<Change> {
        let (m, a, al, r) = (
            strings(modify),
            strings(append),
            strings(append_list),
            strings(remove),
        );
        let (changes, problems) = parse_flags(Flags {
            modify: &m,
            append: &a,
            append_list: &al,
            remove: &r,
            ..Flags::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        changes
    }

    fn inserts(args: &[&str]) -> Vec<Change> {
        let i = strings(args);
        let (changes, problems) = parse_flags(Flags {
            insert: &i,
            ..Flags::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        changes
    }

    /// The patch, as JSON, for these changes against `current`.
    fn patch(current: Value, changes: &[Change]) -> Value {
        let assigned = resolve(changes, &current).expect("resolves");
        let p = diff(&current, &assigned);
        // The patch really turns current into the wanted document.
        let mut doc = current.clone();
        json_patch::patch(&mut doc, &p).unwrap();
        assert_eq!(diff(&doc, &assigned).0, vec![], "not idempotent");
        serde_json::to_value(p).unwrap()
    }

    #[test]
    fn modify_sets_replaces_and_makes_lists() {
        let cur = json!({"title": "Old", "subject": "a"});
        let c = flags(
            &["title:New", "subject:x", "subject:y", "creator:Я"],
            &[],
            &[],
            &[],
        );
        assert_eq!(
            patch(cur, &c),
            json!([
                {"op": "add", "path": "/creator", "value": "Я"},
                {"op": "replace", "path": "/subject", "value": ["x", "y"]},
                {"op": "replace", "path": "/title", "value": "New"},
            ])
        );
    }

    #[test]
    fn modify_to_the_same_value_is_an_empty_patch() {
        let c = flags(&["title:Same"], &[], &[], &[]);
        assert_eq!(patch(json!({"title": "Same"}), &c), json!([]));
    }

    #[test]
    fn remove_tag_deletes_the_field() {
        let c = flags(
            &["description:REMOVE_TAG", "absent:REMOVE_TAG"],
            &[],
            &[],
            &[],
        );
        assert_eq!(
            patch(json!({"description": "d", "title": "t"}), &c),
            json!([{"op": "remove", "path": "/description"}])
        );
    }

    #[test]
    fn indexed_modify_sets_appends_and_removes_elements() {
        let cur = json!({"subject": ["a", "b", "c"]});
        let c = flags(&["subject[1]:B", "subject[7]:z"], &[], &[], &[]);
        assert_eq!(
            patch(cur.clone(), &c),
            json!([
                {"op": "replace", "path": "/subject/1", "value": "B"},
                {"op": "add", "path": "/subject/3", "value": "z"},
            ])
        );
        // Indexes refer to the list as read: removing 0 and 1 leaves "c", stored plainly.
        let c = flags(
            &["subject[0]:REMOVE_TAG", "subject[1]:REMOVE_TAG"],
            &[],
            &[],
            &[],
        );
        assert_eq!(
            patch(cur.clone(), &c),
            json!([{"op": "replace", "path": "/subject", "value": "c"}])
        );
        // A single value is element 0.
        let c = flags(&["title[0]:T2"], &[], &[], &[]);
        assert_eq!(
            patch(json!({"title": "T"}), &c),
            json!([{"op": "replace", "path": "/title", "value": "T2"}])
        );
        let c = flags(&["subject[0]:REMOVE_TAG"], &[], &[], &[]);
        assert_eq!(
            patch(json!({"subject": "only"}), &c),
            json!([{"op": "remove", "path": "/subject"}])
        );
    }

    #[test]
    fn append_adds_text_after_a_space() {
        let c = flags(&[], &["description:more", "notes:first"], &[], &[]);
        assert_eq!(
            patch(json!({"description": "Some text"}), &c),
            json!([
                {"op": "replace", "path": "/description", "value": "Some text more"},
                {"op": "add", "path": "/notes", "value": "first"},
            ])
        );
        let err = resolve(
            &flags(&[], &["subject:x"], &[], &[]),
            &json!({"subject": ["a", "b"]}),
        )
        .unwrap_err();
        assert!(err.contains("--append-list"), "{err}");
    }

    // Resolved once: re-diffing against metadata where the append already landed is empty,
    // so a retry after an ambiguous 5xx does not append twice.
    #[test]
    fn append_is_resolved_once_so_retries_are_idempotent() {
        let c = flags(&[], &["description:more"], &[], &[]);
        let assigned = resolve(&c, &json!({"description": "text"})).unwrap();
        let landed = json!({"description": "text more", "other": "x"});
        assert!(diff(&landed, &assigned).0.is_empty());
    }

    #[test]
    fn append_list_adds_missing_values_only() {
        let c = flags(&[], &[], &["collection:new", "collection:old"], &[]);
        assert_eq!(
            patch(json!({"collection": "old"}), &c),
            json!([{"op": "replace", "path": "/collection", "value": ["old", "new"]}])
        );
        assert_eq!(
            patch(json!({"collection": ["old", "new"]}), &c),
            json!([]),
            "already there"
        );
        // A one-element list that does not change keeps its form.
        let c = flags(&[], &[], &["subject:a"], &[]);
        assert_eq!(patch(json!({"subject": ["a"]}), &c), json!([]));
        assert_eq!(
            patch(json!({}), &c),
            json!([{"op": "add", "path": "/subject", "value": "a"}])
        );
    }

    #[test]
    fn remove_takes_values_out_and_the_field_when_empty() {
        let c = flags(&[], &[], &[], &["subject:b"]);
        assert_eq!(
            patch(json!({"subject": ["a", "b", "c"]}), &c),
            json!([{"op": "remove", "path": "/subject/1"}])
        );
        assert_eq!(
            patch(json!({"subject": ["a", "b"]}), &c),
            json!([{"op": "replace", "path": "/subject", "value": "a"}])
        );
        assert_eq!(
            patch(json!({"subject": "b"}), &c),
            json!([{"op": "remove", "path": "/subject"}])
        );
        assert_eq!(patch(json!({"subject": "z"}), &c), json!([]), "not there");
        let err = resolve(
            &flags(&[], &[], &[], &["collection:only"]),
            &json!({"collection": "only"}),
        )
        .unwrap_err();
        assert!(err.contains("no collection"), "{err}");
    }

    #[test]
    fn insert_adds_at_the_index_as_ia_does() {
        let cur = json!({"subject": ["a", "b", "c"], "title": "T"});
        assert_eq!(
            patch(cur.clone(), &inserts(&["subject[1]:x"])),
            json!([{"op": "add", "path": "/subject/1", "value": "x"}])
        );
        // No index is index 0; past the end appends.
        assert_eq!(
            patch(cur.clone(), &inserts(&["subject:x"])),
            json!([{"op": "add", "path": "/subject/0", "value": "x"}])
        );
        assert_eq!(
            patch(cur.clone(), &inserts(&["subject[9]:x"])),
            json!([{"op": "add", "path": "/subject/3", "value": "x"}])
        );
        // A value already in the list moves; one already at the index is no change.
        let assigned = resolve(&inserts(&["subject[0]:c"]), &cur).unwrap();
        assert_eq!(assigned[0].1, Some(json!(["c", "a", "b"])));
        assert_eq!(patch(cur.clone(), &inserts(&["subject[0]:a"])), json!([]));
        // Inserts apply in order, each on the list the previous one left.
        let assigned = resolve(&inserts(&["subject[0]:y", "subject[0]:z"]), &cur).unwrap();
        assert_eq!(assigned[0].1, Some(json!(["z", "y", "a", "b", "c"])));
        // Into a single value or no field.
        assert_eq!(
            patch(cur.clone(), &inserts(&["title[0]:U"])),
            json!([{"op": "replace", "path": "/title", "value": ["U", "T"]}])
        );
        assert_eq!(
            patch(cur.clone(), &inserts(&["language[2]:ukr"])),
            json!([{"op": "add", "path": "/language", "value": "ukr"}])
        );
        let (_, problems) = parse_flags(Flags {
            insert: &strings(&["subject[0]:REMOVE_TAG", "subject:", "identifier:x"]),
            ..Flags::default()
        });
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("REMOVE_TAG inserts nothing"),
            "{}",
            text[0]
        );
    }

    // One element more or less is one op at its index, in field order among the others; any
    // other list change is json_patch's element-wise diff.
    #[test]
    fn one_element_list_changes_are_one_op_in_field_order() {
        let cur = json!({"a": "x", "m": ["p", "q"], "z": ["1", "1", "2"]});
        let assigned = vec![
            ("z".to_owned(), Some(json!(["1", "2"]))),
            ("a".to_owned(), Some(json!("y"))),
            ("m".to_owned(), Some(json!(["p", "r", "q"]))),
        ];
        assert_eq!(
            serde_json::to_value(diff(&cur, &assigned)).unwrap(),
            json!([
                {"op": "replace", "path": "/a", "value": "y"},
                {"op": "add", "path": "/m/1", "value": "r"},
                {"op": "remove", "path": "/z/0"},
            ])
        );
        let assigned = vec![("m".to_owned(), Some(json!(["q", "p", "s"])))];
        assert_eq!(diff(&cur, &assigned).0.len(), 3);
    }

    #[test]
    fn modes_apply_in_order_modify_append_append_list_remove() {
        let c = flags(
            &["subject:a", "subject:b"],
            &[],
            &["subject:c"],
            &["subject:a"],
        );
        assert_eq!(
            patch(json!({}), &c),
            json!([{"op": "add", "path": "/subject", "value": ["b", "c"]}])
        );
    }

    #[test]
    fn bad_flags_are_problems_naming_the_argument() {
        let (changes, problems) = parse_flags(Flags {
            modify: &strings(&[
                "title",
                "bad name:x",
                "identifier:x",
                "title:",
                "s[0]:x",
                "kw[1]:a",
                "kw[1]:b",
            ]),
            append: &strings(&["subject[0]:x"]),
            append_list: &strings(&["subject:"]),
            ..Flags::default()
        });
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 8, "{text:#?}");
        assert!(
            text[0].contains("`--modify title`: expected KEY:VALUE"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("invalid field name `bad name`"),
            "{}",
            text[1]
        );
        assert!(
            text[2].contains("identifier cannot be changed"),
            "{}",
            text[2]
        );
        assert!(text[3].contains("value is empty") && text[3].contains("title:REMOVE_TAG"));
        assert!(text[4].contains("single character"), "{}", text[4]);
        assert!(
            text[5].contains("`kw[1]` is already set to \"a\""),
            "{}",
            text[5]
        );
        assert!(text[6].contains("only works with --modify"), "{}", text[6]);
        assert!(text[7].contains("`--append-list subject:`: the value is empty"));
        assert_eq!(
            changes,
            vec![Change::SetIndex {
                key: "kw".into(),
                index: 1,
                value: "a".into()
            }]
        );
    }
}
