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

pub fn read(path: &Path) -> std::io::Result<Vec<Message>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
            break;
        };
        let head = String::from_utf8_lossy(&bytes[at..at + nl]).into_owned();
        let mut fields = head.splitn(3, '\t');
        let (Some(route), Some(key), Some(len)) = (fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let Ok(len) = len.parse::<usize>() else {
            break;
        };
        let start = at + nl + 1;
        let Some(body) = bytes.get(start..start + len) else {
            break;
        };
        out.push(Message {
            route: route.to_string(),
            key: key.to_string(),
            body: body.to_vec(),
        });
        at = start + len + 1;
    }
    Ok(out)
}

pub fn count(path: &Path) -> usize {
    read(path).map(|m| m.len()).unwrap_or(0)
}
