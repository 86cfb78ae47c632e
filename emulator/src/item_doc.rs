//! Views of an item as IA renders them: the metadata API's JSON document (with files listed only
//! once their task has run, and `tasks` while any is pending), and the generated
//! `{id}_meta.xml` and `{id}_files.xml`. Pure functions of the item and the time.

use std::time::Instant;

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::clock::ia_date;
use crate::respond::xml_escape;
use crate::state::{FileData, Item};

/// Fields of a file entry that IA owns; file metadata cannot override or patch them.
pub const SYSTEM_FILE_FIELDS: [&str; 10] = [
    "name", "source", "size", "md5", "mtime", "format", "original", "sha1", "crc32", "private",
];

/// IA's `format` for a file name, from its extension.
pub fn format_of(name: &str, source: &str) -> &'static str {
    if source == "metadata" {
        return "Metadata";
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "Text",
        "pdf" => "Text PDF",
        "epub" => "EPUB",
        "jpg" | "jpeg" => "JPEG",
        "png" => "PNG",
        "gif" => "Animated GIF",
        "tif" | "tiff" => "TIFF",
        "mp3" => "VBR MP3",
        "flac" => "Flac",
        "ogg" => "Ogg Vorbis",
        "wav" => "WAVE",
        "mp4" => "MPEG4",
        "mkv" => "Matroska",
        "avi" => "AVI",
        "zip" => "ZIP",
        "gz" | "tgz" => "GZIP",
        "tar" => "TAR",
        "json" => "JSON",
        "csv" => "Comma-Separated Values",
        "html" | "htm" => "HTML",
        _ => "Unknown",
    }
}

/// A file entry of the metadata API.
pub fn file_entry(name: &str, d: &FileData) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("source".into(), json!(d.source));
    m.insert("mtime".into(), json!(d.mtime.to_string()));
    m.insert("size".into(), json!(d.size.to_string()));
    m.insert("md5".into(), json!(d.md5));
    if let (Some(sha1), Some(crc32)) = (&d.sha1, &d.crc32) {
        m.insert("crc32".into(), json!(crc32));
        m.insert("sha1".into(), json!(sha1));
    }
    let format = d
        .format
        .clone()
        .unwrap_or_else(|| format_of(name, &d.source).to_string());
    m.insert("format".into(), json!(format));
    if let Some(o) = &d.original {
        m.insert("original".into(), json!(o));
    }
    if d.private {
        m.insert("private".into(), json!("true"));
    }
    for (k, v) in &d.metadata {
        if !SYSTEM_FILE_FIELDS.contains(&k.as_str()) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// `{id}_meta.xml`: the item's metadata as IA writes it.
pub fn meta_xml(item: &Item) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    for (k, v) in &item.metadata {
        let values: Vec<String> = match v {
            Value::Array(list) => list.iter().map(scalar_text).collect(),
            other => vec![scalar_text(other)],
        };
        for value in values {
            out.push_str(&format!("  <{k}>{}</{k}>\n", xml_escape(&value)));
        }
    }
    out.push_str("</metadata>\n");
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{id}_files.xml`: the visible files.
pub fn files_xml(item: &Item, now: Instant) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files>\n");
    for f in &item.files {
        let Some(d) = f.view(now) else { continue };
        out.push_str(&format!(
            "  <file name=\"{}\" source=\"{}\">\n    <mtime>{}</mtime>\n    <size>{}</size>\n    <md5>{}</md5>\n    <format>{}</format>\n",
            xml_escape(&f.name),
            d.source,
            d.mtime,
            d.size,
            d.md5,
            xml_escape(d.format.as_deref().unwrap_or(format_of(&f.name, &d.source)))
        ));
        if let (Some(sha1), Some(crc32)) = (&d.sha1, &d.crc32) {
            out.push_str(&format!(
                "    <crc32>{crc32}</crc32>\n    <sha1>{sha1}</sha1>\n"
            ));
        }
        if let Some(o) = &d.original {
            out.push_str(&format!("    <original>{}</original>\n", xml_escape(o)));
        }
        out.push_str("  </file>\n");
    }
    out.push_str("</files>\n");
    out
}

/// The data-node directory of an item (`dir` in the metadata API; its files are served at
/// `{dir}/{name}` on the same port).
pub fn item_dir(id: &str) -> String {
    format!("/0/items/{id}")
}

/// The metadata API's answer for an existing item. `host` (`127.0.0.1:PORT`) stands for IA's
/// data nodes in `server`, `d1`, `d2` and `workable_servers`.
pub fn metadata_doc(item: &Item, now: Instant, email: &str, host: &str) -> Value {
    let mut files: Vec<Value> = Vec::new();
    let mut item_size: u64 = 0;
    let mut summation = Md5::new();
    for f in &item.files {
        if let Some(d) = f.view(now) {
            item_size += d.size;
            summation.update(format!("{} {}\n", f.name, d.md5).as_bytes());
            files.push(file_entry(&f.name, d));
        }
    }
    let meta = meta_xml(item);
    item_size += meta.len() as u64;
    let (sha1, crc32) = crate::seed::hashes_of(meta.as_bytes());
    files.push(json!({
        "name": format!("{}_meta.xml", item.identifier),
        "source": "metadata",
        "mtime": item.updated.to_string(),
        "size": meta.len().to_string(),
        "md5": hex::encode(Md5::digest(meta.as_bytes())),
        "crc32": crc32,
        "sha1": sha1,
        "format": "Metadata",
    }));
    // IA lists its files.xml without size or mtime, and with an md5 that is a summation over
    // the other files (it cannot hash itself), marked by `summation` (rclone#6321).
    files.push(json!({
        "name": format!("{}_files.xml", item.identifier),
        "source": "metadata",
        "format": "Metadata",
        "md5": hex::encode(summation.finalize()),
        "summation": "md5",
    }));
    let mut doc = json!({
        "created": item.created,
        "d1": host,
        "d2": host,
        "dir": item_dir(&item.identifier),
        "files_count": files.len(),
        "files": files,
        "item_last_updated": item.updated,
        "item_size": item_size,
        "metadata": item.metadata,
        "server": host,
        "uniq": item.uniq,
        "workable_servers": [host],
    });
    let tasks: Vec<Value> = item
        .pending_tasks(now)
        .map(|t| {
            json!({
                "task_id": t.id,
                "cmd": t.cmd,
                "args": t.args,
                "submittime": ia_date(t.submitted),
                "submitter": email,
                "priority": t.priority,
                "server": host,
                "wait_admin": item.task_status(t, now),
            })
        })
        .collect();
    if !tasks.is_empty() {
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("tasks".into(), Value::Array(tasks));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_extensions() {
        assert_eq!(format_of("a.TXT", "original"), "Text");
        assert_eq!(format_of("x_meta.xml", "metadata"), "Metadata");
        assert_eq!(format_of("noext", "original"), "Unknown");
    }
}
