//! Pure string checks for the plan: identifiers, metadata field names, remote keys and
//! `KEY:VALUE` arguments. Each check says what is wrong in words a user can act on; none of
//! them touches the file system.

use super::Problem;

/// Shortest identifier `ia` accepts.
const MIN_IDENTIFIER: usize = 3;
/// Longest identifier `ia` accepts (IA recommends 5 to 80).
const MAX_IDENTIFIER: usize = 100;

/// Longest key (remote file name) IAS3 takes, in UTF-8 bytes (S3's limit; IAS3 answers
/// `KeyTooLong`).
pub const MAX_KEY_BYTES: usize = 1024;

/// The rule for identifiers, for hints.
pub(super) const IDENTIFIER_RULE: &str = "identifiers use only letters, digits, `_`, `-` and `.`, \
     start with a letter or digit, and are 3 to 100 characters long (5 to 80 recommended)";

/// Splits `"KEY:VALUE"` at the first `:`, as `ia` does for `-m` / `--metadata`.
///
/// `flag` names the option in the problem (`"-m"`, `"--metadata"`, `"--header"`...).
/// The value may be empty (callers decide what an empty value means); the key may not.
pub fn parse_key_value(arg: &str, flag: &str) -> Result<(String, String), Problem> {
    match arg.split_once(':') {
        None => Err(Problem::new(format!(
            "`{flag} {arg}`: expected KEY:VALUE, but there is no `:`"
        ))
        .with_hint(format!(
            "write the field name, a colon, then the value, e.g. `{flag} title:\"My title\"`"
        ))),
        Some(("", _)) => Err(
            Problem::new(format!("`{flag} {arg}`: the key before `:` is empty")).with_hint(
                format!("write the field name before the colon, e.g. `{flag} subject:maps`"),
            ),
        ),
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
    }
}

/// Checks an item identifier with `ia`'s rule: letters, digits, `_`, `-`, `.`; not starting
/// with `.`, `_` or `-`; 3 to 100 characters. The error says what is wrong.
pub fn validate_identifier(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_owned());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "it contains {}, which is not allowed; use only letters, digits, `_`, `-` and `.`",
            describe_char(c)
        ));
    }
    if let Some(c) = id.chars().next().filter(|c| matches!(c, '.' | '_' | '-')) {
        return Err(format!(
            "it starts with `{c}`; it must start with a letter or a digit"
        ));
    }
    // Only ASCII is left here, so bytes are characters.
    let len = id.len();
    if len < MIN_IDENTIFIER {
        return Err(format!(
            "it is {len} character{} long; at least {MIN_IDENTIFIER} are required",
            if len == 1 { "" } else { "s" }
        ));
    }
    if len > MAX_IDENTIFIER {
        return Err(format!(
            "it is {len} characters long; the limit is {MAX_IDENTIFIER}"
        ));
    }
    Ok(())
}

/// Checks a metadata field name against `ia`'s pattern
/// `[A-Za-z][.\-0-9A-Za-z_]+(\[[0-9]+\])?`, e.g. `title`, `isbn_10`, `subject[2]`.
pub fn validate_field_name(name: &str) -> Result<(), String> {
    let (base, index) = split_field_name(name);
    let mut chars = base.chars();
    let Some(first) = chars.next() else {
        return Err("it is empty".to_owned());
    };
    if !first.is_ascii_alphabetic() {
        return Err(format!(
            "it starts with {}; field names start with a letter (A-Z, a-z)",
            describe_char(first)
        ));
    }
    if let Some(c) = chars
        .clone()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "it contains {}; field names use only letters, digits, `.`, `-`, `_` \
             and an optional index such as `[0]` at the end",
            describe_char(c)
        ));
    }
    if chars.next().is_none() {
        return Err("it is a single character; field names have at least two".to_owned());
    }
    if let Some(index) = index {
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "its index `[{index}]` is not a number; write e.g. `subject[0]`"
            ));
        }
    }
    Ok(())
}

/// Splits `subject[2]` into (`subject`, Some(`2`)); a name without a closing `]` has no index.
/// The index text is not checked here.
pub(super) fn split_field_name(name: &str) -> (&str, Option<&str>) {
    if let Some(inner) = name.strip_suffix(']') {
        if let Some((base, index)) = inner.split_once('[') {
            return (base, Some(index));
        }
    }
    (name, None)
}

/// Parses a validated field name into its base and numeric index.
/// Fails only when the index does not fit a `usize`.
pub(super) fn parse_field_name(name: &str) -> Result<(&str, Option<usize>), String> {
    match split_field_name(name) {
        (base, None) => Ok((base, None)),
        (base, Some(index)) => index
            .parse::<usize>()
            .map(|i| (base, Some(i)))
            .map_err(|_| format!("its index `[{index}]` is too large")),
    }
}

/// Checks a remote file name (an S3 key inside the item): UTF-8 by construction, `/`-separated,
/// no leading or trailing `/`, no empty, `.` or `..` segment, no control character.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("it is empty".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "it is {} bytes long in UTF-8; IAS3's limit is {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(format!("it contains {}", describe_char(c)));
    }
    if key.starts_with('/') {
        return Err("it starts with `/`".to_owned());
    }
    if key.ends_with('/') {
        return Err("it ends with `/`, so it names a folder, not a file".to_owned());
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err("it has an empty path segment (`//`)".to_owned()),
            "." | ".." => return Err(format!("it has a `{segment}` path segment")),
            _ => {}
        }
    }
    Ok(())
}

/// Names a character for a message: printable ones in backticks, others by code point.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_control() || c.is_whitespace() => {
            format!("the character U+{:04X}", u32::from(c))
        }
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_table() {
        let ok = [
            "abc",
            "sucho-id-ArticleFiles_1258",
            "0start",
            "a.b_c-d",
            "ABC",
            &"x".repeat(100),
        ];
        for id in ok {
            assert_eq!(validate_identifier(id), Ok(()), "{id}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("ab", "2 characters long; at least 3"),
            ("a", "1 character long"),
            (&"x".repeat(101), "101 characters long; the limit is 100"),
            (".abc", "starts with `.`"),
            ("_abc", "starts with `_`"),
            ("-abc", "starts with `-`"),
            ("my item", "contains a space"),
            ("a/b/c", "contains `/`"),
            ("héllo", "contains `é`"),
            ("tab\there", "U+0009"),
        ];
        for (id, want) in bad {
            let err = validate_identifier(id).expect_err(id);
            assert!(err.contains(want), "{id:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn field_name_table() {
        for name in [
            "title",
            "isbn_10",
            "subject[0]",
            "subject[12]",
            "a1",
            "Title",
            "x.y-z_w",
            "external-identifier",
        ] {
            assert_eq!(validate_field_name(name), Ok(()), "{name}");
        }
        let bad = [
            ("", "empty"),
            ("a", "single character"),
            ("1abc", "starts with `1`"),
            ("_abc", "starts with `_`"),
            ("my title", "contains a space"),
            ("tit/le", "contains `/`"),
            ("subject[]", "index `[]` is not a number"),
            ("subject[x]", "index `[x]` is not a number"),
            ("subject[0", "contains `[`"),
            ("subject[0][1]", "`[0][1]` is not a number"),
            ("s[0]", "single character"),
            ("[0]", "empty"),
            ("tïtle", "contains `ï`"),
        ];
        for (name, want) in bad {
            let err = validate_field_name(name).expect_err(name);
            assert!(err.contains(want), "{name:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn field_name_parsing_splits_the_index() {
        assert_eq!(parse_field_name("subject[3]"), Ok(("subject", Some(3))));
        assert_eq!(parse_field_name("subject[007]"), Ok(("subject", Some(7))));
        assert_eq!(parse_field_name("title"), Ok(("title", None)));
        let err = parse_field_name("s[99999999999999999999999999]").unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn key_table() {
        for key in ["a.txt", "d/sub/x.bin", "sp ace#?é.txt", ".hidden"] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
        for (key, want) in [
            ("", "empty"),
            ("/a", "starts with `/`"),
            ("a/", "ends with `/`"),
            ("a//b", "empty path segment"),
            ("a/../b", "`..`"),
            ("./a", "`.`"),
            ("a\nb", "U+000A"),
            (&*"k".repeat(1025), "1025 bytes long"),
        ] {
            let err = validate_key(key).expect_err(key);
            assert!(err.contains(want), "{key:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn key_value_splits_at_the_first_colon() {
        assert_eq!(
            parse_key_value("title:a: b", "-m"),
            Ok(("title".to_owned(), "a: b".to_owned()))
        );
        assert_eq!(
            parse_key_value("source:http://x.org/a", "--metadata"),
            Ok(("source".to_owned(), "http://x.org/a".to_owned()))
        );
        assert_eq!(
            parse_key_value("note:", "-m"),
            Ok(("note".to_owned(), String::new()))
        );
    }

    #[test]
    fn key_value_problems_name_the_flag_and_argument() {
        let p = parse_key_value("title=x", "--metadata").unwrap_err();
        assert!(p.message.contains("`--metadata title=x`"), "{p}");
        assert!(p.message.contains("no `:`"), "{p}");
        assert!(p
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("--metadata title:"));
        let p = parse_key_value(":x", "-m").unwrap_err();
        assert!(p.message.contains("`-m :x`"), "{p}");
        assert!(p.message.contains("key before `:` is empty"), "{p}");
        assert_eq!((p.file, p.row, p.column), (None, None, None));
    }
}
