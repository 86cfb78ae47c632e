//! `iaup status` (not written yet).

use crate::cli::{GlobalArgs, StatusArgs};
use crate::error::{msg, AppError};
use crate::settings::Env;

pub async fn run(_global: &GlobalArgs, _args: &StatusArgs, _env: &Env) -> Result<u8, AppError> {
    Err(AppError::usage(msg("`iaup status` is not available yet")))
}
