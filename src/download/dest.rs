//! Where a downloaded file goes: `DESTDIR/ID/NAME`, or `DESTDIR/NAME` with
//! `--no-directories`. A remote name is untrusted input: one that would leave the destination
//! (`..`, an absolute path, a drive prefix) is refused here and never written.

use std::path::{Component, Path, PathBuf};

/// The local path of `name` of item `identifier` under `destdir`, or why it is refused.
pub fn local_path(
    destdir: &Path,
    identifier: &str,
    name: &str,
    no_directories: bool,
) -> Result<PathBuf, String> {
    let mut out = destdir.to_path_buf();
    if !no_directories {
        push_relative(&mut out, identifier)
            .map_err(|why| format!("the identifier `{identifier}` {why}"))?;
    }
    push_relative(&mut out, name).map_err(|why| format!("the remote name `{name}` {why}"))?;
    Ok(out)
}

/// Appends the `/`-separated `rel`, refusing any part that is not a plain name.
fn push_relative(out: &mut PathBuf, rel: &str) -> Result<(), &'static str> {
    if rel.is_empty() || rel.starts_with('/') || rel.contains('\0') {
        return Err("is not a relative path; refused");
    }
    let mut pushed = false;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) if c == part => {
                out.push(c);
                pushed = true;
            }
            _ => return Err("would be written outside the destination; refused"),
        }
    }
    if pushed {
        Ok(())
    } else {
        Err("is not a relative path; refused")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_under_the_destination() {
        let d = Path::new("/dl");
        assert_eq!(
            local_path(d, "it", "a/b c.jpg", false).unwrap(),
            Path::new("/dl/it/a/b c.jpg")
        );
        assert_eq!(
            local_path(d, "it", "x.txt", true).unwrap(),
            Path::new("/dl/x.txt")
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/./b", "..", ""] {
            let e = local_path(d, "it", bad, false).unwrap_err();
            assert!(e.contains("refused"), "{bad}: {e}");
        }
        assert!(local_path(d, "..", "x", false).is_err());
    }
}
