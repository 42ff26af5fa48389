//! The spool file: per message a line `<route>\t<key>\t<body length>`, then the body and a
//! newline.

use super::Message;
use std::io::Write as _;
use std::path::Path;

pub fn append(path: &Path, messages: &[Message]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut out = Vec::new();
    for m in messages {
        let head = format!("{}\t{}\t{}\n", m.route, m.key, m.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&m.body);
        out.push(b'\n');
    }
    f.write_all(&out)?;
    f.sync_data()
}

/// The messages of the file, and whether it was read to its end (false: damaged after the
/// messages returned).
pub fn read(path: &Path) -> std::io::Result<(Vec<Message>, bool)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), true)),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(m) = record(&bytes, &mut at) else {
            return Ok((out, false));
        };
        out.push(m);
    }
    Ok((out, true))
}

/// The record at `at`, moving `at` past it.
fn record(bytes: &[u8], at: &mut usize) -> Option<Message> {
    let nl = bytes.get(*at..)?.iter().position(|b| *b == b'\n')?;
    let head = String::from_utf8_lossy(&bytes[*at..*at + nl]).into_owned();
    let mut fields = head.splitn(3, '\t');
    let (route, key, len) = (fields.next()?, fields.next()?, fields.next()?);
    let len = len.parse::<usize>().ok()?;
    let start = *at + nl + 1;
    let end = start.checked_add(len)?;
    let body = bytes.get(start..end)?;
    (bytes.get(end) == Some(&b'\n')).then_some(())?;
    *at = end + 1;
    Some(Message {
        route: route.to_string(),
        key: key.to_string(),
        body: body.to_vec(),
    })
}

/// Replaces the file with `messages` (written aside, then renamed over it).
pub fn rewrite(path: &Path, messages: &[Message]) -> std::io::Result<()> {
    let tmp = path.with_extension("rewrite");
    let _ = std::fs::remove_file(&tmp);
    append(&tmp, messages)?;
    std::fs::rename(&tmp, path)
}
