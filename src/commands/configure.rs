//! `iaup configure`: log in (or take keys) and write `ia.ini` where `ia` would; `--show` and
//! `--check` read it back.

use std::io::{BufRead, IsTerminal};

use crate::archive::{self, LoginError};
use crate::cli::{ConfigureArgs, GlobalArgs};
use crate::config::{self, ConfigUpdate};
use crate::error::{msg, AppError, ExitStatus};
use crate::output;
use crate::printer::Printer;
use crate::secret::{Credentials, Secret};
use crate::settings::{Env, Settings};

pub async fn run(
    global: &GlobalArgs,
    args: &ConfigureArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let printer = Printer::plain();
    if args.show {
        let settings = Settings::resolve(global, env)?;
        printer.data(&settings.show());
        if let Some(name) = &settings.file.screenname {
            printer.data(&format!("screenname: {name}"));
        }
        return Ok(ExitStatus::Success);
    }
    if args.check {
        let settings = Settings::resolve(global, env)?;
        let creds = settings.require_credentials().map_err(|e| {
            AppError::usage(e).hint("run `iaup configure` to log in and store your keys")
        })?;
        let client = crate::transport::client(1);
        let who = archive::whoami(&client, &settings.archive_url, creds)
            .await
            .map_err(AppError::failed)?;
        printer.always(&format!(
            "The keys of access key {} work: they belong to {who}.",
            creds.access
        ));
        return Ok(ExitStatus::Success);
    }
    let target = Settings::write_target(global, env)?;
    // Fail on a malformed existing file before asking for a password. Values are not checked
    // here: storing the keys again is how to repair a multi-line or unsendable secret.
    config::check(&target)?;
    let update = if let (Some(access), Some(secret)) = (&args.access, &args.secret) {
        if access.trim().is_empty() || secret.expose().trim().is_empty() {
            return Err(AppError::usage(msg(
                "--access and --secret must not be empty",
            )));
        }
        ConfigUpdate {
            access: access.trim().to_owned(),
            secret: Secret::new(secret.expose().trim()),
            ..Default::default()
        }
    } else {
        let archive_url = Settings::resolve_archive_url(global, env)?;
        let email = match &args.username {
            Some(u) => u.clone(),
            None => {
                printer.note("Enter your archive.org credentials below to configure 'iaup'.\n");
                prompt_line("Email address: ")?
            }
        };
        let password = match &args.password {
            Some(p) => p.clone(),
            None => prompt_password("Password: ")?,
        };
        if email.is_empty() || password.is_empty() {
            return Err(AppError::usage(msg(
                "an email address and a password are needed to log in",
            )));
        }
        let client = crate::transport::client(1);
        let login = archive::login(&client, &archive_url, &email, &password)
            .await
            .map_err(|e| {
                let hint = match e {
                    LoginError::AccountNotFound | LoginError::BadPassword => {
                        "check the email and password you use on archive.org, or store keys from https://archive.org/account/s3.php with --access/--secret"
                    }
                    _ => "check your network and --archive-url",
                };
                AppError::failed(e).hint(hint)
            })?;
        let Credentials { access, secret } = login.credentials;
        ConfigUpdate {
            access,
            secret,
            screenname: login.screenname,
            logged_in_user: login.logged_in_user,
            logged_in_sig: login.logged_in_sig,
        }
    };
    config::write(&target, &update)?;
    printer.always(&format!("Config saved to: {}", target.display()));
    Ok(ExitStatus::Success)
}

fn prompt_line(prompt: &str) -> Result<String, AppError> {
    output::prompt(prompt);
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| AppError::usage(msg(format!("cannot read from standard input: {e}"))))?;
    Ok(line.trim().to_owned())
}

/// A hidden prompt on a terminal; a plain line from a pipe (for scripts).
fn prompt_password(prompt: &str) -> Result<Secret, AppError> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map(Secret::new)
            .map_err(|e| AppError::usage(msg(format!("cannot read the password: {e}"))))
    } else {
        let line = prompt_line(prompt)?;
        Ok(Secret::new(line))
    }
}
