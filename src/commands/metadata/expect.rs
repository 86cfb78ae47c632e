//! `iaup metadata --expect KEY:VALUE` (`-E`), as `ia` has it: each expectation is a JSON Patch
//! `test` operation put before the changes, so archive.org refuses the whole write when field
//! KEY (or element `KEY[N]`) is no longer VALUE. iaup also checks the expectations against the
//! metadata it read first: one that does not hold fails the item with what the field holds,
//! without a write, and one that the server refused is explained the same way after a re-read.

use json_patch::jsonptr::PointerBuf;
use json_patch::{PatchOperation, TestOperation};
use serde_json::Value;

use super::patch::split_index;
use crate::plan::{parse_key_value, validate_field_name, Problem};

/// One `--expect KEY:VALUE` or `--expect KEY[N]:VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The argument as given, to name it in messages.
    arg: String,
    key: String,
    index: Option<usize>,
    value: String,
}

impl Expectation {
    fn path(&self) -> PointerBuf {
        match self.index {
            Some(i) => PointerBuf::from_tokens([self.key.clone(), i.to_string()]),
            None => PointerBuf::from_tokens([self.key.clone()]),
        }
    }

    /// `subject[1]` or `title`, as the user wrote the field.
    fn field(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.key),
            None => self.key.clone(),
        }
    }

    fn op(&self) -> PatchOperation {
        PatchOperation::Test(TestOperation {
            path: self.path(),
            value: Value::String(self.value.clone()),
        })
    }
}

/// Parses every `--expect`; every problem is collected. An empty VALUE expects an empty text.
pub fn parse(args: &[String]) -> (Vec<Expectation>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for arg in args {
        let (key, value) = match parse_key_value(arg, "--expect") {
            Ok(kv) => kv,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let split = validate_field_name(&key)
            .map_err(|why| format!("invalid field name `{key}`: {why}"))
            .and_then(|()| split_index(&key));
        match split {
            Ok((key, index)) => out.push(Expectation {
                arg: arg.clone(),
                key,
                index,
                value,
            }),
            Err(why) => problems.push(Problem::new(format!("`--expect {arg}`: {why}")).with_hint(
                "write the field name (with an index such as `subject[0]` for one element \
                     of a list), a colon, then the value it must have",
            )),
        }
    }
    (out, problems)
}

/// The expectations' `test` operations, in the order given.
pub fn tests(expectations: &[Expectation]) -> Vec<PatchOperation> {
    expectations.iter().map(Expectation::op).collect()
}

/// Checks the expectations against `current` (the target's document) as the server will: the
/// first that does not hold, said with what the field holds.
pub fn check(expectations: &[Expectation], current: &Value) -> Result<(), String> {
    for e in expectations {
        let found = current.pointer(e.path().as_str());
        if found == Some(&Value::String(e.value.clone())) {
            continue;
        }
        let is = match found {
            Some(v) => format!("is {v}"),
            None => "is absent".to_owned(),
        };
        return Err(format!(
            "--expect {} does not hold: `{}` {is}",
            e.arg,
            e.field()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(args: &[&str]) -> Vec<Expectation> {
        let (e, problems) = parse(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(problems.is_empty(), "{problems:?}");
        e
    }

    #[test]
    fn expectations_are_test_ops_as_ia_builds_them() {
        let e = parsed(&["title:Old", "subject[1]:b", "note:"]);
        let ops = serde_json::to_value(tests(&e)).unwrap();
        assert_eq!(
            ops,
            json!([
                {"op": "test", "path": "/title", "value": "Old"},
                {"op": "test", "path": "/subject/1", "value": "b"},
                {"op": "test", "path": "/note", "value": ""},
            ])
        );
    }

    #[test]
    fn check_agrees_with_the_test_op() {
        let e = parsed(&["title:Old", "subject[1]:b"]);
        let doc = json!({"title": "Old", "subject": ["a", "b"]});
        assert_eq!(check(&e, &doc), Ok(()));
        let mut patched = doc.clone();
        json_patch::patch(&mut patched, &json_patch::Patch(tests(&e))).unwrap();
        let doc = json!({"title": "New", "subject": "b"});
        assert_eq!(
            check(&e, &doc),
            Err("--expect title:Old does not hold: `title` is \"New\"".into())
        );
        let e = parsed(&["subject[1]:b"]);
        assert_eq!(
            check(&e, &doc),
            Err("--expect subject[1]:b does not hold: `subject[1]` is absent".into())
        );
        let mut patched = doc.clone();
        assert!(json_patch::patch(&mut patched, &json_patch::Patch(tests(&e))).is_err());
    }

    #[test]
    fn bad_expectations_are_problems() {
        let args: Vec<String> = ["title", "bad name:x", ":x", "s[x]:y"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let (e, problems) = parse(&args);
        assert!(e.is_empty());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[1]
            .message
            .contains("invalid field name `bad name`"));
    }
}
