//! Item metadata assembly: plain and indexed fields (`subject`, `subject[0]`, ...) become
//! ordered lists, `-m KEY:VALUE` options become the base layer, and spreadsheet cells override
//! it. Conflicts between rows are detected by the item builder in `mod.rs`, not here.

use std::collections::BTreeMap;

use super::validate::{parse_field_name, validate_field_name};
use super::{Metadata, Problem};

/// Values of one field from one source, before they become a list: plain values first, then
/// indexed values in index order (indices need not be contiguous).
#[derive(Debug, Default)]
struct FieldValues {
    plain: Vec<String>,
    indexed: BTreeMap<usize, String>,
}

/// Gathers fields in first-seen order.
#[derive(Debug, Default)]
pub(super) struct MetaBuilder {
    fields: Vec<(String, FieldValues)>,
}

impl MetaBuilder {
    fn field(&mut self, base: &str) -> &mut FieldValues {
        let pos = match self.fields.iter().position(|(k, _)| k == base) {
            Some(pos) => pos,
            None => {
                self.fields.push((base.to_owned(), FieldValues::default()));
                self.fields.len() - 1
            }
        };
        &mut self.fields[pos].1
    }

    /// Adds a plain value (`subject`). With `dedup`, a value already present is skipped, as
    /// `ia` does for repeated `-m` options.
    pub(super) fn push_plain(&mut self, base: &str, value: &str, dedup: bool) {
        let field = self.field(base);
        if !(dedup && field.plain.iter().any(|v| v == value)) {
            field.plain.push(value.to_owned());
        }
    }

    /// Adds an indexed value (`subject[3]`). If that index already holds a different value,
    /// nothing changes and the value already there is returned.
    pub(super) fn push_indexed(&mut self, base: &str, index: usize, value: &str) -> Option<String> {
        let field = self.field(base);
        match field.indexed.get(&index) {
            Some(old) if old != value => Some(old.clone()),
            Some(_) => None,
            None => {
                field.indexed.insert(index, value.to_owned());
                None
            }
        }
    }

    /// The fields as ordered lists; fields without values are dropped.
    pub(super) fn finish(self) -> Vec<(String, Vec<String>)> {
        self.fields
            .into_iter()
            .map(|(k, f)| {
                let mut values = f.plain;
                values.extend(f.indexed.into_values());
                (k, values)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

/// True for names that are not metadata at all and must not be set as such.
pub(super) fn is_reserved_field(base: &str) -> bool {
    base.eq_ignore_ascii_case("identifier")
}

/// Builds the `-m` layer. Keys keep their case (as `ia` sends them); a repeated key makes a
/// list; `KEY[i]` places a value at index `i`; empty values are ignored like empty cells.
pub(super) fn from_options(
    pairs: &[(String, String)],
) -> (Vec<(String, Vec<String>)>, Vec<Problem>) {
    let mut builder = MetaBuilder::default();
    let mut problems = Vec::new();
    for (key, value) in pairs {
        let arg = format!("-m {key}:{value}");
        let parsed = validate_field_name(key).and_then(|()| parse_field_name(key));
        let (base, index) = match parsed {
            Ok(parsed) => parsed,
            Err(why) => {
                problems.push(
                    Problem::new(format!("`{arg}`: invalid field name `{key}`: {why}"))
                        .with_hint(FIELD_NAME_HINT),
                );
                continue;
            }
        };
        if is_reserved_field(base) {
            problems.push(
                Problem::new(format!("`{arg}`: the identifier is not a metadata field")).with_hint(
                    "give the identifier as the first argument, or in the spreadsheet's \
                         `identifier` column",
                ),
            );
            continue;
        }
        if value.is_empty() {
            continue;
        }
        match index {
            None => builder.push_plain(base, value, true),
            Some(i) => {
                if let Some(old) = builder.push_indexed(base, i, value) {
                    problems.push(
                        Problem::new(format!(
                            "`{arg}`: `{base}[{i}]` is already set to {}",
                            describe_values(std::slice::from_ref(&old))
                        ))
                        .with_hint("give each index once, or use a different index"),
                    );
                }
            }
        }
    }
    (builder.finish(), problems)
}

/// The hint for a rejected field name.
pub(super) const FIELD_NAME_HINT: &str = "metadata field names match \
     `[A-Za-z][.-0-9A-Za-z_]+` with an optional index such as `subject[0]`";

/// Lays an item's own fields over the `-m` layer: `-m` fields keep their order, a field the
/// item sets replaces the `-m` one in place (names compared case-insensitively, since columns
/// are lower-cased), and the item's other fields follow. This is `ia`'s `dict.update`.
pub(super) fn merge_over_options(
    options: &[(String, Vec<String>)],
    own: Vec<(String, Vec<String>)>,
) -> Metadata {
    let mut fields: Vec<(String, Vec<String>)> = options.to_vec();
    for (key, values) in own {
        match fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(pos) => fields[pos] = (key, values),
            None => fields.push((key, values)),
        }
    }
    Metadata(fields)
}

/// Shows a field's values for a message: `"one"` or `["a", "b"]`, long values shortened.
pub(super) fn describe_values(values: &[String]) -> String {
    const MAX_CHARS: usize = 60;
    let one = |v: &String| {
        if v.chars().count() > MAX_CHARS {
            let cut: String = v.chars().take(MAX_CHARS).collect();
            format!("{cut:?}…")
        } else {
            format!("{v:?}")
        }
    };
    match values {
        [single] => one(single),
        many => format!("[{}]", many.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_repeated_key_is_a_list_and_indices_sort() {
        let (fields, problems) = from_options(&pairs(&[
            ("subject", "maps"),
            ("title", "T"),
            ("subject", "atlases"),
            ("subject", "maps"),
            ("lang[1]", "eng"),
            ("lang[0]", "ukr"),
            ("lang", "plain"),
            ("note", ""),
        ]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            fields,
            vec![
                ("subject".to_owned(), strings(&["maps", "atlases"])),
                ("title".to_owned(), strings(&["T"])),
                ("lang".to_owned(), strings(&["plain", "ukr", "eng"])),
            ]
        );
    }

    #[test]
    fn options_problems_name_the_argument() {
        let (fields, problems) = from_options(&pairs(&[
            ("bad name", "x"),
            ("identifier", "other"),
            ("s[0]", "x"),
            ("subject[0]", "a"),
            ("subject[0]", "b"),
            ("subject[0]", "a"),
        ]));
        assert_eq!(fields, vec![("subject".to_owned(), strings(&["a"]))]);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].contains("`-m bad name:x`: invalid field name `bad name`"));
        assert!(messages[1].contains("`-m identifier:other`: the identifier is not"));
        assert!(messages[2].contains("`-m s[0]:x`"));
        assert!(messages[3].contains("`subject[0]` is already set to \"a\""));
    }

    #[test]
    fn item_fields_replace_options_in_place() {
        let options = vec![
            ("Title".to_owned(), strings(&["from -m"])),
            ("collection".to_owned(), strings(&["opensource"])),
        ];
        let merged = merge_over_options(
            &options,
            vec![
                ("creator".to_owned(), strings(&["me"])),
                ("title".to_owned(), strings(&["cell"])),
            ],
        );
        assert_eq!(
            merged.0,
            vec![
                ("title".to_owned(), strings(&["cell"])),
                ("collection".to_owned(), strings(&["opensource"])),
                ("creator".to_owned(), strings(&["me"])),
            ]
        );
    }

    #[test]
    fn values_are_described_briefly() {
        assert_eq!(describe_values(&strings(&["a\nb"])), "\"a\\nb\"");
        assert_eq!(describe_values(&strings(&["a", "b"])), "[\"a\", \"b\"]");
        let long = "x".repeat(100);
        let shown = describe_values(&[long]);
        assert!(shown.ends_with("\"…") && shown.len() < 70, "{shown}");
    }
}
