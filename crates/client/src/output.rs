//! What the client prints, to any `io::Write`.

use std::io::{self, Write};

use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::Counters;
use pmacct_core::query::{Entry, TableStatus};

use crate::args::{Counter, Top, Which};

fn counter(c: &Counters, which: Counter) -> u64 {
    match which {
        Counter::Bytes => c.bytes,
        Counter::Packets => c.packets,
        Counter::Flows => c.flows,
    }
}

/// `-T`: sorted by the counter, largest first (ties keep the daemon's order), cut to the limit.
pub fn top(mut entries: Vec<&Entry>, top: Option<Top>) -> Vec<&Entry> {
    if let Some(top) = top {
        entries.sort_by_key(|e| std::cmp::Reverse(counter(&e.counters, top.counter)));
        if let Some(limit) = top.limit {
            entries.truncate(limit);
        }
    }
    entries
}

/// `-s`/`-M`: the header, the rows and (formatted) `For a total of: N entries`. With `bins`
/// (a memory table with `imt_history`) each row starts with its bin's start, STAMP_INSERTED
/// (JSON: `stamp_inserted`).
pub fn write_table(
    w: &mut dyn Write,
    fmt: &RowFormat,
    entries: &[&Entry],
    bins: bool,
) -> io::Result<()> {
    let stamp = |t: i64| match fmt.timestamps_since_epoch {
        true => t.to_string(),
        false => pmacct_core::bins::format_stamp(t, &fmt.tz),
    };
    let mut header = Vec::new();
    fmt.write_header(&mut header)?;
    match (bins, fmt.format) {
        (true, Format::Formatted) => write!(w, "{:<21}", "STAMP_INSERTED")?,
        (true, Format::Csv) => write!(w, "STAMP_INSERTED{}", fmt.separator)?,
        _ => {}
    }
    w.write_all(&header)?;
    for e in entries {
        match (bins, fmt.format) {
            (true, Format::Formatted) => write!(w, "{:<21}", stamp(e.key.bin))?,
            (true, Format::Csv) => write!(w, "{}{}", stamp(e.key.bin), fmt.separator)?,
            _ => {}
        }
        let stamps = bins.then_some((e.key.bin, e.key.bin));
        fmt.write_row(w, &e.key, &e.counters, stamps)?;
    }
    if fmt.format == Format::Formatted {
        writeln!(w)?;
        writeln!(w, "For a total of: {} entries", entries.len())?;
    }
    Ok(())
}

/// After a formatted `-s`: how much the bounded table could not take.
pub fn write_overflow(w: &mut dyn Write, status: &TableStatus) -> io::Result<()> {
    if status.overflow_packets > 0 {
        writeln!(
            w,
            "WARN: the table is full: {} packets ({} bytes) of new keys were not stored",
            status.overflow_packets, status.overflow_bytes
        )?;
    }
    Ok(())
}

/// Totals of a list of entries: counters and how many entries.
fn total<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> (Counters, u64) {
    let mut sum = Counters::default();
    let mut n = 0u64;
    for e in entries {
        sum.packets = sum.packets.saturating_add(e.counters.packets);
        sum.bytes = sum.bytes.saturating_add(e.counters.bytes);
        sum.flows = sum.flows.saturating_add(e.counters.flows);
        n += 1;
    }
    (sum, n)
}

fn write_counter_line(w: &mut dyn Write, c: &Counters, n: u64, which: Which) -> io::Result<()> {
    match which {
        Which::One(one) => writeln!(w, "{}", counter(c, one)),
        Which::All => writeln!(w, "{} {} {} {}", c.packets, c.bytes, c.flows, n),
    }
}

/// `-N`: per query the sum of what matched (`-n all`: `packets bytes flows entries`); with `-S`
/// one line for all queries (`-n all`: the last number is the number of queries).
pub fn write_counters(
    w: &mut dyn Write,
    results: &[Vec<Entry>],
    which: Which,
    sum: bool,
) -> io::Result<()> {
    if sum {
        let (c, _) = total(results.iter().flatten());
        write_counter_line(w, &c, results.len() as u64, which)
    } else {
        for entries in results {
            let (c, n) = total(entries);
            write_counter_line(w, &c, n, which)?;
        }
        Ok(())
    }
}

/// `-t` (pmacct-rs: a summary instead of pmacct's per-bucket chains).
pub fn write_status(w: &mut dyn Write, status: &TableStatus) -> io::Result<()> {
    writeln!(w, "entries: {}", status.entries)?;
    match status.max_entries {
        Some(max) => writeln!(w, "max_entries: {max}")?,
        None => writeln!(w, "max_entries: unbounded")?,
    }
    writeln!(w, "overflow_packets: {}", status.overflow_packets)?;
    writeln!(w, "overflow_bytes: {}", status.overflow_bytes)
}

/// `-i`: seconds since the last erase, or `never`.
pub fn write_since_erase(w: &mut dyn Write, status: &TableStatus) -> io::Result<()> {
    match (status.erased_ever, status.seconds_since_erase) {
        (true, Some(secs)) => writeln!(w, "{secs}"),
        _ => writeln!(w, "never"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pmacct_core::key::{Addr, FlowKey};
    use pmacct_core::primitive::Primitive;

    fn entry(src: &str, dst: &str, packets: u64, bytes: u64, flows: u64) -> Entry {
        Entry {
            key: FlowKey {
                src_host: Addr(src.parse().unwrap()),
                dst_host: Addr(dst.parse().unwrap()),
                proto: 17,
                ..FlowKey::default()
            },
            counters: Counters {
                packets,
                bytes,
                flows,
                tcp_flags: 0,
            },
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn top_sorts_descending_and_cuts() {
        let a = entry("10.0.0.1", "10.0.0.9", 1, 300, 0);
        let b = entry("10.0.0.2", "10.0.0.9", 5, 100, 0);
        let c = entry("10.0.0.3", "10.0.0.9", 3, 300, 0);
        let all = vec![&a, &b, &c];
        let by = |counter, limit| Some(Top { counter, limit });
        assert_eq!(top(all.clone(), None), [&a, &b, &c]);
        assert_eq!(top(all.clone(), by(Counter::Bytes, None)), [&a, &c, &b]);
        assert_eq!(top(all.clone(), by(Counter::Packets, Some(2))), [&b, &c]);
        assert_eq!(top(all, by(Counter::Bytes, Some(10))).len(), 3);
    }

    #[test]
    fn table_json_and_footer() {
        let mut fmt = RowFormat::new(Format::Json, [Primitive::SrcHost, Primitive::Proto]);
        fmt.event_type = None;
        let e = entry("10.0.0.1", "10.0.0.2", 2, 96, 0);
        assert_eq!(
            text(|w| write_table(w, &fmt, &[&e], false)),
            "{\"ip_src\": \"10.0.0.1\", \"ip_proto\": \"udp\", \"packets\": 2, \"bytes\": 96}\n"
        );
        // The print plugin's default is unchanged.
        fmt.event_type = Some("purge");
        assert_eq!(
            text(|w| write_table(w, &fmt, &[&e], false)),
            "{\"event_type\": \"purge\", \"ip_src\": \"10.0.0.1\", \"ip_proto\": \"udp\", \"packets\": 2, \"bytes\": 96}\n"
        );
        // No columns at all (aggregate none).
        let mut fmt = RowFormat::new(Format::Json, []);
        fmt.event_type = None;
        assert_eq!(
            text(|w| write_table(w, &fmt, &[&e], false)),
            "{\"packets\": 2, \"bytes\": 96}\n"
        );
        let fmt = RowFormat::new(Format::Formatted, [Primitive::SrcHost]);
        assert_eq!(
            text(|w| write_table(w, &fmt, &[], false)),
            format!(
                "{:<47}{:<22}BYTES\n\nFor a total of: 0 entries\n",
                "SRC_IP", "PACKETS"
            )
        );
    }

    #[test]
    fn counters_per_query_and_summed() {
        let results = vec![
            vec![
                entry("10.0.0.1", "10.0.0.2", 3, 150, 0),
                entry("10.0.0.1", "10.0.0.3", 1, 60, 0),
            ],
            vec![entry("10.0.0.4", "10.0.0.2", 2, 96, 1)],
            vec![],
        ];
        let one = |c| Which::One(c);
        assert_eq!(
            text(|w| write_counters(w, &results, one(Counter::Bytes), false)),
            "210\n96\n0\n"
        );
        assert_eq!(
            text(|w| write_counters(w, &results, one(Counter::Packets), false)),
            "4\n2\n0\n"
        );
        assert_eq!(
            text(|w| write_counters(w, &results, one(Counter::Flows), false)),
            "0\n1\n0\n"
        );
        assert_eq!(
            text(|w| write_counters(w, &results, Which::All, false)),
            "4 210 0 2\n2 96 1 1\n0 0 0 0\n"
        );
        assert_eq!(
            text(|w| write_counters(w, &results, one(Counter::Bytes), true)),
            "306\n"
        );
        assert_eq!(
            text(|w| write_counters(w, &results, Which::All, true)),
            "6 306 1 3\n"
        );
    }

    #[test]
    fn status_and_since_erase() {
        let mut s = TableStatus {
            entries: 3,
            max_entries: Some(1000),
            overflow_packets: 7,
            overflow_bytes: 420,
            seconds_since_erase: Some(42),
            erased_ever: true,
        };
        assert_eq!(
            text(|w| write_status(w, &s)),
            "entries: 3\nmax_entries: 1000\noverflow_packets: 7\noverflow_bytes: 420\n"
        );
        assert_eq!(text(|w| write_since_erase(w, &s)), "42\n");
        assert_eq!(
            text(|w| write_overflow(w, &s)),
            "WARN: the table is full: 7 packets (420 bytes) of new keys were not stored\n"
        );
        s.max_entries = None;
        s.erased_ever = false;
        s.overflow_packets = 0;
        assert!(text(|w| write_status(w, &s)).contains("\nmax_entries: unbounded\n"));
        assert_eq!(text(|w| write_since_erase(w, &s)), "never\n");
        assert_eq!(text(|w| write_overflow(w, &s)), "");
    }
}
