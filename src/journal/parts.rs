//! Multipart uploads in the journal: each one begun (its upload id, part size, and the source
//! it was begun for) and every part the server confirmed (number, size, MD5, ETag, when), so a
//! killed run resumes the same upload and sends again at most the parts that were in flight.
//! A changed local file must never complete an old upload: [`MultipartUpload::matches`] says
//! whether the source is still the one the upload was begun for. An upload completed or
//! aborted is forgotten with its parts. The writer records ([`super::Op::MultipartBegun`],
//! [`super::Op::PartConfirmed`], [`super::Op::MultipartEnded`]); a run reads them back here.

use rusqlite::{params, Connection};

use super::writer::Scope;
use super::{sql, Direction, Journal, JournalError, Op};
use crate::plan::{FileIdentity, FilePlan};

/// One part the server confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// 1 to 10,000, as S3 numbers them.
    pub number: u32,
    pub size: u64,
    /// The part's MD5, hex.
    pub md5: String,
    /// What the server answered for it.
    pub etag: Option<String>,
    /// Unix seconds.
    pub confirmed_at: i64,
}

/// A multipart upload begun and not yet completed or aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartUpload {
    pub identifier: String,
    pub key: String,
    pub upload_id: String,
    pub part_size: u64,
    /// The source it was begun for.
    pub size: u64,
    pub mtime_ns: i64,
    pub identity: FileIdentity,
    /// Unix seconds.
    pub created_at: i64,
    /// Its confirmed parts, by number.
    pub parts: Vec<Part>,
}

impl MultipartUpload {
    /// True when `fp` is still the source the upload was begun for.
    pub fn matches(&self, fp: &FilePlan) -> bool {
        self.size == fp.size && self.mtime_ns == fp.mtime_ns && self.identity == fp.identity
    }
}

/// Records a multipart op of the run `to`, at time `t`.
pub(super) fn apply(c: &Connection, to: Scope<'_>, op: Op, t: i64) -> rusqlite::Result<()> {
    match op {
        Op::MultipartBegun {
            identifier,
            key,
            upload_id,
            part_size,
            size,
            mtime_ns,
            identity,
        } => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO multipart (endpoint, direction, identifier, key,
                   upload_id, part_size, size, mtime_ns, canonical_path, inode, ctime_ns, run_id,
                   created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                to.endpoint,
                to.direction,
                identifier,
                key,
                upload_id,
                part_size as i64,
                size as i64,
                mtime_ns,
                identity.canonical,
                identity.inode,
                identity.ctime_ns,
                to.run_id,
                t
            ])?;
        }
        Op::PartConfirmed {
            upload_id,
            number,
            size,
            md5,
            etag,
        } => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO parts (endpoint, upload_id, part_number, size, md5, etag,
                   confirmed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                to.endpoint,
                upload_id,
                number,
                size as i64,
                md5,
                etag,
                t
            ])?;
        }
        Op::MultipartEnded { upload_id } => {
            // The parts first: SQLite enforces no foreign key (and so no cascade) by default.
            c.prepare_cached("DELETE FROM parts WHERE endpoint = ?1 AND upload_id = ?2")?
                .execute(params![to.endpoint, upload_id])?;
            c.prepare_cached("DELETE FROM multipart WHERE endpoint = ?1 AND upload_id = ?2")?
                .execute(params![to.endpoint, upload_id])?;
        }
        _ => unreachable!("not a multipart op: {op:?}"),
    }
    Ok(())
}

impl Journal {
    /// Every multipart upload of `endpoint` in `direction` not completed or aborted, oldest
    /// first, each with its confirmed parts. A journal older than schema 4 has none.
    pub fn multipart_uploads(
        &self,
        endpoint: &str,
        direction: Direction,
    ) -> Result<Vec<MultipartUpload>, JournalError> {
        if self.version < 4 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT identifier, key, upload_id, part_size, size, mtime_ns, canonical_path,
                   inode, ctime_ns, created_at
                 FROM multipart WHERE endpoint = ?1 AND direction = ?2
                 ORDER BY created_at, upload_id",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map(params![endpoint, direction], |r| {
                Ok(MultipartUpload {
                    identifier: r.get(0)?,
                    key: r.get(1)?,
                    upload_id: r.get(2)?,
                    part_size: r.get::<_, i64>(3)? as u64,
                    size: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                    mtime_ns: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                    identity: FileIdentity {
                        canonical: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                        inode: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                        ctime_ns: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
                    },
                    created_at: r.get(9)?,
                    parts: Vec::new(),
                })
            })
            .map_err(sql(&self.path))?;
        let mut uploads: Vec<MultipartUpload> =
            rows.collect::<Result<_, _>>().map_err(sql(&self.path))?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT part_number, size, md5, etag, confirmed_at FROM parts
                 WHERE endpoint = ?1 AND upload_id = ?2 ORDER BY part_number",
            )
            .map_err(sql(&self.path))?;
        for up in &mut uploads {
            let rows = stmt
                .query_map(params![endpoint, up.upload_id], |r| {
                    Ok(Part {
                        number: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        md5: r.get(2)?,
                        etag: r.get(3)?,
                        confirmed_at: r.get(4)?,
                    })
                })
                .map_err(sql(&self.path))?;
            up.parts = rows.collect::<Result<_, _>>().map_err(sql(&self.path))?;
        }
        Ok(uploads)
    }
}
