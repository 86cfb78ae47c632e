//! The subset of IA's Lucene query syntax the emulator's search understands, parsed by a small
//! recursive descent (this grammar has no standard crate) and evaluated against one item's
//! search document (a JSON object of field -> string, number or list):
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*        juxtaposition is AND
//! unary   := ("NOT" | "-" | "!") unary | "+" unary | primary
//! primary := "(" or ")" | FIELD ":" value | value | "*:*"
//! value   := WORD | "PHRASE" | "*" | range | "(" or ")"   (the field applies inside)
//! range   := ("[" | "{") BOUND "TO" BOUND ("]" | "}")    bounds may be "*"
//! ```
//!
//! Matching: `identifier`, `collection` and `mediatype` compare whole values (case-insensitive);
//! other fields match a word or phrase as a run of words (case-insensitive); `*` in a word is a
//! wildcard; `field:*` means the field is present; a list matches when any value does; a bare
//! term searches every field. Ranges compare numbers as numbers and anything else as strings;
//! a date bound such as `2008-06-13` includes the whole day (`2008-06-13T10:00:00Z`).

use serde_json::{Map, Value};

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// `*`, `*:*`.
    All,
    /// A word, phrase or wildcard in one field (None: any field).
    Term {
        field: Option<String>,
        text: String,
        phrase: bool,
    },
    /// `field:[lo TO hi]` (None bound: open).
    Range {
        field: Option<String>,
        lo: Option<String>,
        hi: Option<String>,
        lo_inclusive: bool,
        hi_inclusive: bool,
    },
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    RangeOpen(bool),
    RangeClose(bool),
    And,
    Or,
    Not,
    Plus,
    Field(String),
    Word(String),
    Phrase(String),
}

/// Why a query could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Invalid query: {0}")]
pub struct QueryError(String);

fn is_field_name(s: &str) -> bool {
    s == "*"
        || (s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
}

fn lex(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '[' | '{' => {
                out.push(Token::RangeOpen(c == '['));
                i += 1;
            }
            ']' | '}' => {
                out.push(Token::RangeClose(c == ']'));
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError("unterminated quoted phrase".into())),
                        Some('"') => break,
                        Some('\\') if i + 1 < chars.len() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Phrase(text));
            }
            '-' | '!' | '+' if chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) => {
                out.push(if c == '+' { Token::Plus } else { Token::Not });
                i += 1;
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "()[]{}\"".contains(ch) {
                        break;
                    }
                    if ch == '\\' && i + 1 < chars.len() {
                        word.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if ch == ':' && is_field_name(&word) {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                }
                if chars.get(i) == Some(&':') {
                    i += 1;
                    out.push(Token::Field(word));
                    continue;
                }
                out.push(match word.as_str() {
                    "AND" | "&&" => Token::And,
                    "OR" | "||" => Token::Or,
                    "NOT" => Token::Not,
                    _ => Token::Word(word),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut parts = vec![self.and(field)?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            parts.push(self.and(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary(field)?];
        loop {
            match self.peek() {
                Some(Token::And) => {
                    self.pos += 1;
                    parts.push(self.unary(field)?);
                }
                None | Some(Token::Or) | Some(Token::Close) => break,
                Some(_) => parts.push(self.unary(field)?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        match self.peek() {
            Some(Token::Not) => {
                self.pos += 1;
                Ok(Query::Not(Box::new(self.unary(field)?)))
            }
            Some(Token::Plus) => {
                self.pos += 1;
                self.unary(field)
            }
            _ => self.primary(field),
        }
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        match self.next() {
            Some(Token::Field(name)) => {
                if name == "*" {
                    return match self.next() {
                        Some(Token::Word(w)) if w == "*" => Ok(Query::All),
                        _ => Err(QueryError("`*:` must be followed by `*`".into())),
                    };
                }
                self.value(Some(&name))
            }
            Some(Token::Open) => self.group(field),
            Some(t) => {
                self.pos -= 1;
                let _ = t;
                self.value(field)
            }
            None => Err(QueryError("unexpected end of query".into())),
        }
    }

    fn group(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let inner = self.or(field)?;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            _ => Err(QueryError("missing `)`".into())),
        }
    }

    fn value(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let owned = field.map(str::to_string);
        match self.next() {
            Some(Token::Word(w)) if w == "*" && field.is_none() => Ok(Query::All),
            Some(Token::Word(w)) => Ok(Query::Term {
                field: owned,
                text: w,
                phrase: false,
            }),
            Some(Token::Phrase(p)) => Ok(Query::Term {
                field: owned,
                text: p,
                phrase: true,
            }),
            Some(Token::Open) => self.group(field),
            Some(Token::RangeOpen(lo_inclusive)) => {
                let lo = self.bound()?;
                match self.next() {
                    Some(Token::Word(w)) if w == "TO" => {}
                    _ => return Err(QueryError("a range needs `TO`".into())),
                }
                let hi = self.bound()?;
                let Some(Token::RangeClose(hi_inclusive)) = self.next() else {
                    return Err(QueryError("a range needs `]` or `}`".into()));
                };
                Ok(Query::Range {
                    field: owned,
                    lo,
                    hi,
                    lo_inclusive,
                    hi_inclusive,
                })
            }
            Some(other) => Err(QueryError(format!("unexpected {other:?}"))),
            None => Err(QueryError("unexpected end of query".into())),
        }
    }

    fn bound(&mut self) -> Result<Option<String>, QueryError> {
        match self.next() {
            Some(Token::Word(w)) if w == "*" => Ok(None),
            Some(Token::Word(w)) | Some(Token::Phrase(w)) => Ok(Some(w)),
            _ => Err(QueryError("a range bound must be a value or `*`".into())),
        }
    }
}

/// Parses a query; an empty one is an error, as at IA.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Err(QueryError("empty query".into()));
    }
    let mut parser = Parser { tokens, pos: 0 };
    let query = parser.or(None)?;
    if parser.pos < parser.tokens.len() {
        return Err(QueryError(format!(
            "unexpected {:?}",
            parser.tokens[parser.pos]
        )));
    }
    Ok(query)
}

/// Fields compared as whole values rather than as words.
const EXACT_FIELDS: [&str; 3] = ["identifier", "collection", "mediatype"];

/// The values of `field` in `doc` as text (a list gives each element).
fn values<'a>(doc: &'a Map<String, Value>, field: Option<&str>) -> Vec<(&'a str, String)> {
    let mut out = Vec::new();
    let mut push = |name: &'a str, v: &Value| match v {
        Value::Array(list) => out.extend(list.iter().map(|x| (name, text_of(x)))),
        Value::Null => {}
        other => out.push((name, text_of(other))),
    };
    match field {
        Some(f) => {
            if let Some((name, v)) = doc.get_key_value(f) {
                push(name.as_str(), v);
            }
        }
        None => doc.iter().for_each(|(name, v)| push(name.as_str(), v)),
    }
    out
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '*' && c != '?')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `*` any run, `?` any one character; case-insensitive.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn term_matches(field: &str, value: &str, text: &str, phrase: bool) -> bool {
    let is_wild = !phrase && (text.contains('*') || text.contains('?'));
    if EXACT_FIELDS.contains(&field) {
        return if is_wild {
            wildcard(text, value)
        } else {
            value.eq_ignore_ascii_case(text) || value.to_lowercase() == text.to_lowercase()
        };
    }
    if is_wild {
        return wildcard(text, value) || words(value).iter().any(|w| wildcard(text, w));
    }
    if value.to_lowercase() == text.to_lowercase() {
        return true;
    }
    let wanted = words(text);
    let have = words(value);
    !wanted.is_empty() && have.windows(wanted.len()).any(|w| w == wanted.as_slice())
}

/// A bound shaped like a date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`), which covers every time in it.
fn date_prefix(bound: &str) -> bool {
    let b = bound.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
}

fn compare(value: &str, bound: &str, upper: bool) -> std::cmp::Ordering {
    if let (Ok(v), Ok(b)) = (value.parse::<f64>(), bound.parse::<f64>()) {
        return v.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal);
    }
    if upper && date_prefix(bound) {
        let cut: String = value.chars().take(bound.chars().count()).collect();
        return cut.as_str().cmp(bound);
    }
    value.cmp(bound)
}

fn in_range(value: &str, q: (&Option<String>, &Option<String>, bool, bool)) -> bool {
    use std::cmp::Ordering::*;
    let (lo, hi, lo_inclusive, hi_inclusive) = q;
    let above = lo
        .as_ref()
        .is_none_or(|lo| match compare(value, lo, false) {
            Greater => true,
            Equal => lo_inclusive,
            Less => false,
        });
    let below = hi.as_ref().is_none_or(|hi| match compare(value, hi, true) {
        Less => true,
        Equal => hi_inclusive,
        Greater => false,
    });
    above && below
}

impl Query {
    /// Whether `doc` (one item's search document) matches.
    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Query::All => true,
            Query::And(parts) => parts.iter().all(|q| q.matches(doc)),
            Query::Or(parts) => parts.iter().any(|q| q.matches(doc)),
            Query::Not(q) => !q.matches(doc),
            Query::Term {
                field,
                text,
                phrase,
            } => {
                let found = values(doc, field.as_deref());
                if text == "*" && !phrase {
                    return !found.is_empty();
                }
                found
                    .iter()
                    .any(|(name, v)| term_matches(name, v, text, *phrase))
            }
            Query::Range {
                field,
                lo,
                hi,
                lo_inclusive,
                hi_inclusive,
            } => values(doc, field.as_deref())
                .iter()
                .any(|(_, v)| in_range(v, (lo, hi, *lo_inclusive, *hi_inclusive))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test documents are objects"),
        }
    }

    fn hit(q: &str, d: &Map<String, Value>) -> bool {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).matches(d)
    }

    #[test]
    fn the_seed_query_works_as_written() {
        let inside = doc(json!({
            "identifier": "mblwhoi_1",
            "collection": ["biodiversity", "americana"],
            "contributor": "MBLWHOI Library",
            "oai_updatedate": ["2007-01-01T00:00:00Z", "2008-06-13T10:00:00Z"],
        }));
        let outside = doc(json!({
            "identifier": "other",
            "collection": "biodiversity",
            "oai_updatedate": ["2008-06-14T00:00:00Z"],
        }));
        let q = "collection:biodiversity AND oai_updatedate:[2008-06-01 TO 2008-06-13]";
        assert!(hit(q, &inside));
        assert!(!hit(q, &outside));
        let q2 = format!("{q} AND contributor:(MBLWHOI Library)");
        assert!(hit(&q2, &inside));
        assert!(!hit(&q2, &outside));
    }

    #[test]
    fn operators_groups_and_negation() {
        let d = doc(
            json!({"identifier": "a1", "collection": "c", "mediatype": "texts",
                           "title": "The Quick Brown Fox", "downloads": 42}),
        );
        assert!(hit("identifier:a1", &d));
        assert!(!hit("identifier:a", &d), "identifiers are whole values");
        assert!(hit("identifier:a*", &d));
        assert!(hit("collection:x OR collection:c", &d));
        assert!(!hit(
            "collection:x OR (collection:c AND mediatype:movies)",
            &d
        ));
        assert!(hit("NOT collection:x", &d));
        assert!(hit("-collection:x collection:c", &d));
        assert!(!hit("collection:c -mediatype:texts", &d));
        assert!(hit("title:quick", &d));
        assert!(hit("title:\"brown fox\"", &d));
        assert!(!hit("title:\"fox brown\"", &d));
        assert!(hit("title:qu*", &d));
        assert!(hit("title:*", &d));
        assert!(!hit("subject:*", &d));
        assert!(hit("fox", &d), "a bare word searches every field");
        assert!(hit("*:*", &d));
        assert!(hit("*", &d));
        assert!(hit("downloads:[10 TO 100]", &d));
        assert!(!hit("downloads:[100 TO *]", &d));
        assert!(!hit("downloads:{10 TO 42}", &d));
        assert!(hit("downloads:{10 TO 42]", &d));
    }

    #[test]
    fn date_ranges_compare_as_text_and_cover_whole_days() {
        let d = doc(json!({"publicdate": "2008-06-01T00:00:00Z"}));
        assert!(hit("publicdate:[2008-06-01 TO 2008-06-01]", &d));
        assert!(hit("publicdate:[2008 TO 2008]", &d));
        assert!(!hit("publicdate:[2008-06-02 TO *]", &d));
        assert!(!hit("publicdate:{2008-06-01T00:00:00Z TO *]", &d));
    }

    #[test]
    fn malformed_queries_are_errors() {
        for q in [
            "", "   ", "(a", "a)", "x:[1 TO", "x:[1 2]", "\"open", "*:x", "AND",
        ] {
            assert!(parse(q).is_err(), "{q:?} should not parse");
        }
    }
}
