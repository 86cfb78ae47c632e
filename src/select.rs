//! Choosing files from an item's listing: `--glob`/`--exclude` patterns as `ia` writes them
//! (`|` separates alternatives, `*` also matches `/`), and the download/list filter in which
//! every given criterion must hold (glob AND not-excluded AND format AND source), so one flag
//! never silently replaces another as in `ia` (ia#180, ia#539). History copies are left out
//! unless asked for.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::item_doc::RemoteFile;
use crate::plan::Problem;

/// Compiled patterns of one flag.
#[derive(Clone, Debug)]
pub struct Patterns(GlobSet);

impl Patterns {
    /// Compiles the values of `flag`; `None` when none was given. A bad pattern is a problem.
    pub fn compile(flag: &str, given: &[String], problems: &mut Vec<Problem>) -> Option<Patterns> {
        if given.is_empty() {
            return None;
        }
        let mut set = GlobSetBuilder::new();
        for value in given {
            for p in value.split('|').filter(|p| !p.is_empty()) {
                match GlobBuilder::new(p).literal_separator(false).build() {
                    Ok(g) => {
                        set.add(g);
                    }
                    Err(e) => problems.push(
                        Problem::new(format!("`{flag} {value}`: invalid pattern `{p}`: {e}"))
                            .with_hint("patterns use `*`, `?`, `[abc]` and `{a,b}`"),
                    ),
                }
            }
        }
        set.build().ok().map(Patterns)
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

/// `--source`: which kind of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    Original,
    Derivative,
    Metadata,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Original => "original",
            Source::Derivative => "derivative",
            Source::Metadata => "metadata",
        }
    }
}

/// The filter of `list` and `download`: each given criterion must hold.
#[derive(Clone, Debug, Default)]
pub struct FileFilter {
    pub globs: Option<Patterns>,
    pub exclude: Option<Patterns>,
    /// Any of these formats (as the metadata API names them, case ignored).
    pub formats: Vec<String>,
    /// Any of these sources.
    pub sources: Vec<Source>,
    /// Keep `history/` copies.
    pub history: bool,
}

impl FileFilter {
    /// True when no criterion was given (every file but history copies passes).
    pub fn is_empty(&self) -> bool {
        self.globs.is_none()
            && self.exclude.is_none()
            && self.formats.is_empty()
            && self.sources.is_empty()
    }

    pub fn picks(&self, file: &RemoteFile) -> bool {
        if file.is_history() && !self.history {
            return false;
        }
        if self.globs.as_ref().is_some_and(|g| !g.is_match(&file.name)) {
            return false;
        }
        if self
            .exclude
            .as_ref()
            .is_some_and(|g| g.is_match(&file.name))
        {
            return false;
        }
        let format = file.format.as_deref().unwrap_or("");
        if !self.formats.is_empty() && !self.formats.iter().any(|f| f.eq_ignore_ascii_case(format))
        {
            return false;
        }
        let source = file.source.as_deref().unwrap_or("");
        self.sources.is_empty() || self.sources.iter().any(|s| s.as_str() == source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, format: &str, source: &str) -> RemoteFile {
        RemoteFile {
            name: name.into(),
            format: Some(format.into()),
            source: Some(source.into()),
            ..RemoteFile::default()
        }
    }

    #[test]
    fn criteria_combine_with_and() {
        let mut problems = Vec::new();
        let filter = FileFilter {
            globs: Patterns::compile("--glob", &["*.xml|*.jpg".into()], &mut problems),
            exclude: Patterns::compile("--exclude", &["*_files.xml".into()], &mut problems),
            formats: vec!["metadata".into(), "JPEG".into()],
            sources: vec![],
            history: false,
        };
        assert!(problems.is_empty());
        assert!(filter.picks(&file("x_meta.xml", "Metadata", "original")));
        assert!(
            filter.picks(&file("a/b.jpg", "JPEG", "original")),
            "* crosses /"
        );
        assert!(!filter.picks(&file("x_files.xml", "Metadata", "metadata")));
        assert!(
            !filter.picks(&file("c.jpg", "JPEG Thumb", "derivative")),
            "the glob matches but the format does not: both must hold"
        );
        assert!(!filter.picks(&file("history/files/a.jpg.~1~", "JPEG", "original")));
        let sources = FileFilter {
            sources: vec![Source::Original, Source::Metadata],
            history: true,
            ..FileFilter::default()
        };
        assert!(sources.picks(&file("history/files/a.jpg.~1~", "JPEG", "original")));
        assert!(!sources.picks(&file("a.txt", "Text", "derivative")));
        Patterns::compile("--glob", &["a[".into()], &mut problems);
        assert!(problems[0]
            .message
            .contains("`--glob a[`: invalid pattern `a[`"));
    }
}
