//! `iaup metadata` (not written yet).

use crate::cli::{GlobalArgs, MetadataArgs};
use crate::error::{msg, AppError};
use crate::settings::Env;

pub async fn run(_global: &GlobalArgs, _args: &MetadataArgs, _env: &Env) -> Result<u8, AppError> {
    Err(AppError::usage(msg("`iaup metadata` is not available yet")))
}
