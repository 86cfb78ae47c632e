//! Integration tests: the real `iaup` binary against an in-process `ias3-emulator` on port 0,
//! with a clean HOME and no inherited IA_* variables. One test binary keeps link time down.

mod config_file;
mod configure;
mod delete;
mod download;
mod dropin;
mod ecosystem;
mod expect;
mod folders;
mod hardening;
mod harness;
mod harvest_search;
mod metadata;
mod multipart;
mod profiles;
mod resume;
mod status;
mod upload;
mod upload_faults;
mod verify;
