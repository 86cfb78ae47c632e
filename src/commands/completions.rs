//! `iaup completions SHELL` and `iaup man [DIR]`: the command line described for the shell and
//! for `man`, both generated from the clap definition in `cli`, so they never drift from it.
//! Neither reads ia.ini or touches the network.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{msg, AppError, ExitStatus};
use crate::output;

/// The name completions are registered for: the binary's name, not whatever argv[0] was.
const BIN: &str = "iaup";

/// Prints the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> Result<ExitStatus, AppError> {
    let script = completion_script(args.shell);
    output::data(script.trim_end_matches('\n'));
    Ok(ExitStatus::Success)
}

/// The whole completion script for one shell. Rendered into memory first: clap_complete panics
/// on a failed write, and stdout may be a closed pipe.
pub fn completion_script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Writes one page per command into `args.dir` (created if missing) and prints each path.
pub fn man(args: &ManArgs) -> Result<ExitStatus, AppError> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|e| {
        AppError::failed(msg(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        )))
    })?;
    for (name, page) in man_pages()? {
        let path = write_page(dir, &name, &page)?;
        output::data(&path.display().to_string());
    }
    Ok(ExitStatus::Success)
}

/// Every man page as (file name, roff): `iaup.1` first, then `iaup-SUB.1` for each subcommand
/// (nested ones too, as `iaup-SUB-SUBSUB.1`), hidden commands and `help` left out.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building fills in each subcommand's display name (`iaup-upload`), which names its page.
    root.build();
    let mut pages = Vec::new();
    collect(root, &mut pages)?;
    Ok(pages)
}

fn collect(cmd: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> Result<(), AppError> {
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let page = clap_mangen::Man::new(cmd);
    let mut roff = Vec::new();
    page.render(&mut roff).map_err(AppError::failed)?;
    pages.push((page.get_filename(), roff));
    for sub in subs {
        collect(sub, pages)?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, roff: &[u8]) -> Result<PathBuf, AppError> {
    let path = dir.join(name);
    std::fs::write(&path, roff)
        .map_err(|e| AppError::failed(msg(format!("cannot write {}: {e}", path.display()))))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_command_named_like_man_expects() {
        let names: Vec<String> = man_pages().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "iaup.1");
        let visible: Vec<String> = Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("iaup-{}.1", s.get_name()))
            .collect();
        for want in &visible {
            assert!(names.contains(want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n == "iaup-help.1"), "{names:?}");
    }
}
