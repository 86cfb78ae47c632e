//! `iaup delete` (not written yet).

use crate::cli::{DeleteArgs, GlobalArgs};
use crate::error::{msg, AppError};
use crate::settings::Env;

pub async fn run(_global: &GlobalArgs, _args: &DeleteArgs, _env: &Env) -> Result<u8, AppError> {
    Err(AppError::usage(msg("`iaup delete` is not available yet")))
}
