//! The spool file: rows the database could not take, kept on disk across restarts.
//!
//! Format: a header line `pmacct-rs spool 1 <layout>\n` naming the key layout (the plugin's
//! primitives and whether keys hold a time bin), then rows of little-endian u64 words: the
//! packed key, then packets, bytes, flows and TCP flags. Rows are only appended; a row cut by a
//! crash (a short tail) is ignored. A file whose layout differs from the plugin's (the
//! configuration changed) is set aside, never read into the wrong columns.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use pmacct_core::key::Counters;
use pmacct_core::table::{AggregateTable, SortedRows};

const COUNTER_WORDS: usize = 4;

pub struct Spool {
    path: PathBuf,
    /// Names the layout in the header.
    layout: String,
    width: usize,
}

impl Spool {
    pub fn new(path: PathBuf, layout: String, width: usize) -> Spool {
        Spool {
            path,
            layout,
            width,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn header(&self) -> String {
        format!("pmacct-rs spool 1 {}\n", self.layout)
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Appends rows; returns how many.
    pub fn append(&self, rows: &SortedRows) -> io::Result<usize> {
        if let Some(dir) = self.path.parent() {
            crate::process::create_dirs(dir)?;
        }
        let new = !self.path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        if new {
            crate::process::own(&self.path);
        }
        let mut out = BufWriter::new(file);
        if new {
            out.write_all(self.header().as_bytes())?;
        }
        for i in 0..rows.len() {
            let (key, c) = rows.packed(i);
            for w in key
                .iter()
                .chain(&[c.packets, c.bytes, c.flows, u64::from(c.tcp_flags)])
            {
                out.write_all(&w.to_le_bytes())?;
            }
        }
        out.flush()?;
        out.get_ref().sync_data()?;
        Ok(rows.len())
    }

    /// Adds the file's rows to `table`; returns how many. A file of another layout is renamed
    /// aside (and reported as an error once).
    pub fn load_into(&self, table: &mut AggregateTable) -> io::Result<usize> {
        let mut data = Vec::new();
        File::open(&self.path)?.read_to_end(&mut data)?;
        let header = self.header();
        if !data.starts_with(header.as_bytes()) {
            let aside = self.path.with_extension("spool.other-layout");
            fs::rename(&self.path, &aside)?;
            return Err(io::Error::other(format!(
                "{} holds rows of another configuration; moved to {}",
                self.path.display(),
                aside.display()
            )));
        }
        let stride = 8 * (self.width + COUNTER_WORDS);
        let mut words = vec![0u64; self.width + COUNTER_WORDS];
        let mut n = 0;
        for rec in data[header.len()..].chunks_exact(stride) {
            for (w, b) in words.iter_mut().zip(rec.chunks_exact(8)) {
                *w = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            }
            let c = &words[self.width..];
            let counters = Counters {
                packets: c[0],
                bytes: c[1],
                flows: c[2],
                tcp_flags: c[3] as u8,
            };
            table.add_packed(&words[..self.width], &counters);
            n += 1;
        }
        Ok(n)
    }

    pub fn remove(&self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmacct_core::key::{FlowKey, Record};
    use pmacct_core::layout::KeyLayout;
    use pmacct_core::primitive::Aggregate;
    use std::sync::Arc;

    #[test]
    fn rows_survive_a_round_trip_and_a_cut_tail() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Arc::new(KeyLayout::new(&Aggregate::parse("src_port").unwrap(), true));
        let mut t = AggregateTable::unbounded(layout.clone());
        for p in 0..10u16 {
            t.add(&Record {
                key: FlowKey {
                    src_port: p,
                    bin: 60,
                    ..FlowKey::default()
                },
                counters: Counters {
                    packets: 1,
                    bytes: 100 + u64::from(p),
                    flows: 0,
                    tcp_flags: 2,
                },
                ts: 0,
            });
        }
        let spool = Spool::new(
            dir.path().join("x.spool"),
            "src_port+bin".into(),
            layout.words(),
        );
        assert_eq!(spool.append(&t.sorted_rows()).unwrap(), 10);
        assert_eq!(spool.append(&t.sorted_rows()).unwrap(), 10);
        // A crash in the middle of a row.
        let mut f = OpenOptions::new().append(true).open(spool.path()).unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        let mut back = AggregateTable::unbounded(layout.clone());
        assert_eq!(spool.load_into(&mut back).unwrap(), 20);
        assert_eq!(back.len(), 10);
        let sum: u64 = back.sorted().iter().map(|(_, c)| c.bytes).sum();
        assert_eq!(sum, 2 * (1000 + 45));
        // Another configuration's file is set aside.
        let other = Spool::new(spool.path().to_path_buf(), "dst_port".into(), 1);
        assert!(other.load_into(&mut back).is_err());
        assert!(!spool.exists());
        assert!(dir.path().join("x.spool.other-layout").exists());
    }
}
