//! Integration tests of the emulator over real HTTP on 127.0.0.1: one test binary, one module
//! per area (S3 face, multipart uploads, metadata headers, archive.org face, raw wire
//! behaviour, faults, the binary itself). `common` starts emulators and speaks raw HTTP where reqwest would hide
//! what is being tested.

mod archive;
mod binary;
mod common;
mod faults;
mod harvest;
mod metadata_headers;
mod multipart;
mod s3;
mod wire;
