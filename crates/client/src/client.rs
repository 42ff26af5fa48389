//! One exchange with the memory plugin, and printing its answer.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use pmacct_core::bins::time_zone;
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::primitive::Primitive;
use pmacct_core::query::{Entry, Op, Request, Response, PROTOCOL_VERSION};

use crate::args::{Action, Options};
use crate::{output, queries, Failure};

/// Builds the request, asks the daemon and prints the answer.
pub fn run(options: &Options, out: &mut dyn Write) -> Result<(), Failure> {
    learn_custom_primitives(options)?;
    let request = request(options)?;
    let response = exchange(&options.socket, &request)?;
    render(options, &request, &response, out)
}

pub fn request(options: &Options) -> Result<Request, Failure> {
    let op = match options.action {
        Action::Dump => Op::Dump,
        Action::Erase => Op::Erase,
        Action::Status | Action::SinceErase => Op::Status,
        Action::Match | Action::Count => Op::Match {
            queries: queries::build(&options.columns, &options.match_input)?,
            reset: options.reset,
        },
    };
    Ok(Request {
        protocol: PROTOCOL_VERSION,
        op,
    })
}

/// When `-c` names primitives the client does not know, asks the daemon for its custom
/// primitives (`aggregate_primitives`) first: a name neither knows is then an error.
fn learn_custom_primitives(options: &Options) -> Result<(), Failure> {
    let known = |c: &String| {
        Primitive::parse(c).is_some()
            || matches!(
                c.as_str(),
                "sum" | "sum_host" | "sum_net" | "sum_port" | "sum_mac"
            )
    };
    let Some(unknown) = options.columns.iter().find(|c| !known(c)) else {
        return Ok(());
    };
    let status = Request {
        protocol: PROTOCOL_VERSION,
        op: Op::Status,
    };
    exchange(&options.socket, &status)?;
    match Primitive::parse(unknown) {
        Some(_) => Ok(()),
        None => Err(Failure::new(pmacct_core::primitive::unknown_primitive(
            unknown,
        ))),
    }
}

/// Sends `request` as one JSON line and reads the response up to EOF.
pub fn exchange(socket: &str, request: &Request) -> Result<Response, Failure> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|_| Failure::new(format!("Unable to connect to '{socket}'")))?;
    let mut line = serde_json::to_string(request)
        .map_err(|e| Failure::new(format!("cannot encode the query: {e}")))?;
    line.push('\n');
    // A daemon may answer (with an error) and close before reading everything: still read.
    let sent = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    if answer.is_empty() {
        if let Err(e) = sent.and(read) {
            return Err(Failure::new(format!("query to '{socket}' failed: {e}")));
        }
    }
    decode(&answer)
}

/// Parses the response, checking its protocol version before anything else.
pub fn decode(answer: &[u8]) -> Result<Response, Failure> {
    let head_len = answer
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(answer.len());
    let head = match std::str::from_utf8(&answer[..head_len]) {
        Ok(t) => t.trim(),
        Err(e) => {
            return Err(Failure::new(format!(
                "invalid answer from the daemon: not UTF-8 text ({e})"
            )))
        }
    };
    if head.is_empty() {
        return Err(Failure::new(
            "the daemon closed the connection without an answer",
        ));
    }
    let invalid =
        |e: serde_json::Error| Failure::new(format!("invalid answer from the daemon: {e}"));
    // The version alone first (the rest skipped, not built), so a daemon of another version gets
    // a clear message whatever its answer looks like.
    #[derive(serde::Deserialize)]
    struct Version {
        protocol: Option<u64>,
    }
    let version: Version = serde_json::from_str(head).map_err(invalid)?;
    match version.protocol {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(Failure::new(format!(
                "protocol version mismatch: client speaks {PROTOCOL_VERSION}, daemon speaks {v}"
            )))
        }
        None => {
            return Err(Failure::new(
                "invalid answer from the daemon: no protocol version",
            ))
        }
    }
    let response = pmacct_core::query::read_response(answer).map_err(Failure::new)?;
    if let Some(e) = &response.error {
        return Err(Failure::new(e.clone()));
    }
    Ok(response)
}

/// How rows are printed: the daemon's columns, the user's format options.
fn row_format(options: &Options, columns: &[String]) -> Result<RowFormat, Failure> {
    let mut primitives = columns
        .iter()
        .map(|name| {
            Primitive::parse(name).ok_or_else(|| {
                Failure::new(format!("the daemon reported an unknown primitive '{name}'"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `*_host_coords` is one name for two columns.
    let companions: Vec<Primitive> = primitives.iter().filter_map(|p| p.companion()).collect();
    primitives.extend(companions);
    primitives.sort();
    primitives.dedup();
    let mut fmt = RowFormat::new(options.format, primitives);
    fmt.separator.clone_from(&options.separator);
    fmt.num_protos = options.num_protos;
    fmt.tz = time_zone(options.utc);
    fmt.timestamps_since_epoch = options.since_epoch;
    fmt.event_type = None;
    Ok(fmt)
}

/// Prints the response to `request` (everything is checked before the first byte is written).
pub fn render(
    options: &Options,
    request: &Request,
    response: &Response,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    match options.action {
        Action::Dump | Action::Match => {
            let mut fmt = row_format(options, &response.columns)?;
            fmt.stamps = response.bins;
            let entries: Vec<&Entry> = response.results.iter().flatten().collect();
            let entries = output::top(entries, options.top);
            output::write_table(out, &fmt, &entries, response.bins)?;
            if options.action == Action::Dump && options.format == Format::Formatted {
                output::write_overflow(out, &response.status)?;
            }
        }
        Action::Count => {
            let asked = match &request.op {
                Op::Match { queries, .. } => queries.len(),
                _ => 0,
            };
            if response.results.len() != asked {
                return Err(Failure::new(format!(
                    "the daemon answered {} results to {asked} queries",
                    response.results.len()
                )));
            }
            output::write_counters(out, &response.results, options.which, options.sum)?;
        }
        Action::Erase => writeln!(out, "OK: Clearing stats.")?,
        Action::SinceErase => output::write_since_erase(out, &response.status)?,
        Action::Status => output::write_status(out, &response.status)?,
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::args::{self, Command};
    use pmacct_core::key::{Addr, Counters, FlowKey, Timestamp};
    use pmacct_core::query::{Query, TableStatus};

    fn options(line: &str) -> Options {
        match args::parse(line.split_whitespace().map(String::from)) {
            Ok(Command::Run(o)) => o,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn entry(src: &str, dst: &str, sport: u16, dport: u16, proto: u8, p: u64, b: u64) -> Entry {
        Entry {
            key: FlowKey {
                src_host: Addr(src.parse().unwrap()),
                dst_host: Addr(dst.parse().unwrap()),
                src_port: sport,
                dst_port: dport,
                proto,
                ..FlowKey::default()
            },
            counters: Counters {
                packets: p,
                bytes: b,
                flows: 0,
                tcp_flags: 0,
            },
        }
    }

    fn response(results: Vec<Vec<Entry>>) -> Response {
        Response {
            protocol: PROTOCOL_VERSION,
            columns: ["src_host", "dst_host", "src_port", "dst_port", "proto"]
                .map(String::from)
                .to_vec(),
            results,
            status: TableStatus::default(),
            error: None,
            packed: None,
            dump: None,
            bins: false,
            custom: Vec::new(),
        }
    }

    /// The table of pmacct-behaviour.md section 4.
    fn dump() -> Response {
        response(vec![vec![
            entry("192.168.1.10", "8.8.8.8", 5353, 53, 17, 2, 96),
            entry("10.0.0.1", "10.0.0.2", 12345, 80, 6, 3, 150),
        ]])
    }

    /// What `pmacct <line>` prints for `response`.
    fn print(line: &str, response: &Response) -> Result<String, String> {
        let o = options(line);
        let request = request(&o).map_err(|e| format!("{e:?}"))?;
        let mut out = Vec::new();
        match render(&o, &request, response, &mut out) {
            Ok(()) => Ok(String::from_utf8(out).unwrap()),
            Err(Failure::Error { message, .. }) => Err(message),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    const HEADER: &str = "SRC_IP                                         DST_IP                                         SRC_PORT  DST_PORT  PROTOCOL    PACKETS               BYTES\n";
    const ROW_DNS: &str = "192.168.1.10                                   8.8.8.8                                        5353      53        udp         2                     96\n";
    const ROW_WEB: &str = "10.0.0.1                                       10.0.0.2                                       12345     80        tcp         3                     150\n";

    #[test]
    fn dump_formatted_as_pmacct() {
        assert_eq!(
            print("-s", &dump()).unwrap(),
            format!("{HEADER}{ROW_DNS}{ROW_WEB}\nFor a total of: 2 entries\n")
        );
    }

    #[test]
    fn dump_formatted_warns_of_overflow() {
        let mut r = dump();
        r.status.overflow_packets = 12;
        r.status.overflow_bytes = 3400;
        assert_eq!(
            print("-s", &r).unwrap(),
            format!(
                "{HEADER}{ROW_DNS}{ROW_WEB}\nFor a total of: 2 entries\n\
                 WARN: the table is full: 12 packets (3400 bytes) of new keys were not stored\n"
            )
        );
        // Only formatted output, so csv/json stay machine-readable.
        assert!(!print("-s -O csv", &r).unwrap().contains("WARN"));
    }

    #[test]
    fn dump_csv_and_json_as_pmacct() {
        assert_eq!(
            print("-s -O csv", &dump()).unwrap(),
            "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES\n\
             192.168.1.10,8.8.8.8,5353,53,udp,2,96\n\
             10.0.0.1,10.0.0.2,12345,80,tcp,3,150\n"
        );
        assert_eq!(
            print("-s -O csv -E \\t -u", &dump()).unwrap(),
            "SRC_IP\tDST_IP\tSRC_PORT\tDST_PORT\tPROTOCOL\tPACKETS\tBYTES\n\
             192.168.1.10\t8.8.8.8\t5353\t53\t17\t2\t96\n\
             10.0.0.1\t10.0.0.2\t12345\t80\t6\t3\t150\n"
        );
        assert_eq!(
            print("-s -O json", &dump()).unwrap(),
            "{\"ip_src\": \"192.168.1.10\", \"ip_dst\": \"8.8.8.8\", \"port_src\": 5353, \"port_dst\": 53, \"ip_proto\": \"udp\", \"packets\": 2, \"bytes\": 96}\n\
             {\"ip_src\": \"10.0.0.1\", \"ip_dst\": \"10.0.0.2\", \"port_src\": 12345, \"port_dst\": 80, \"ip_proto\": \"tcp\", \"packets\": 3, \"bytes\": 150}\n"
        );
    }

    #[test]
    fn timestamps_utc_and_since_epoch() {
        let mut r = dump();
        r.columns = vec!["src_host".into(), "timestamp_arrival".into()];
        r.results[0].truncate(1);
        r.results[0][0].key.timestamp_arrival = Timestamp {
            secs: 1_764_181_897,
            micros: 42,
        };
        assert_eq!(
            print("-s -O csv -0", &r).unwrap(),
            "SRC_IP,TIMESTAMP_ARRIVAL,PACKETS,BYTES\n192.168.1.10,2025-11-26 18:31:37.000042,2,96\n"
        );
        assert_eq!(
            print("-s -O csv -I", &r).unwrap(),
            "SRC_IP,TIMESTAMP_ARRIVAL,PACKETS,BYTES\n192.168.1.10,1764181897.000042,2,96\n"
        );
    }

    #[test]
    fn top_n_orders_by_counter() {
        let mut r = dump();
        r.results[0].push(entry("10.0.0.5", "10.0.0.6", 1, 2, 6, 9, 100));
        let by_bytes = print("-s -T bytes", &r).unwrap();
        let lines: Vec<&str> = by_bytes.lines().collect();
        assert_eq!(lines[1].split_whitespace().next(), Some("10.0.0.1"));
        assert_eq!(lines[2].split_whitespace().next(), Some("10.0.0.5"));
        assert_eq!(lines[3].split_whitespace().next(), Some("192.168.1.10"));
        assert_eq!(lines[5], "For a total of: 3 entries");
        assert_eq!(
            print("-s -T packets,2 -O csv", &r).unwrap(),
            "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES\n\
             10.0.0.5,10.0.0.6,1,2,tcp,9,100\n\
             10.0.0.1,10.0.0.2,12345,80,tcp,3,150\n"
        );
    }

    #[test]
    fn match_concatenates_queries_and_sorts_across_them() {
        let r = response(vec![
            vec![entry("10.0.0.1", "10.0.0.2", 12345, 80, 6, 3, 150)],
            vec![entry("192.168.1.10", "8.8.8.8", 5353, 53, 17, 2, 96)],
        ]);
        assert_eq!(
            print("-M 10.0.0.1;192.168.1.10 -c src_host", &r).unwrap(),
            format!("{HEADER}{ROW_WEB}{ROW_DNS}\nFor a total of: 2 entries\n")
        );
        assert_eq!(
            print("-M 10.0.0.1;192.168.1.10 -c src_host -T bytes,1 -O csv", &r).unwrap(),
            "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES\n10.0.0.1,10.0.0.2,12345,80,tcp,3,150\n"
        );
    }

    #[test]
    fn count_as_pmacct() {
        let r = response(vec![
            vec![
                entry("10.0.0.1", "10.0.0.2", 12345, 80, 6, 3, 150),
                entry("10.0.0.1", "10.0.0.3", 1, 2, 6, 1, 60),
            ],
            vec![entry("192.168.1.10", "8.8.8.8", 5353, 53, 17, 2, 96)],
        ]);
        let q = "-N 10.0.0.1;192.168.1.10 -c src_host";
        assert_eq!(print(q, &r).unwrap(), "210\n96\n");
        assert_eq!(
            print(&format!("{q} -n all"), &r).unwrap(),
            "4 210 0 2\n2 96 0 1\n"
        );
        assert_eq!(print(&format!("{q} -S"), &r).unwrap(), "306\n");
        assert_eq!(print(&format!("{q} -S -n all"), &r).unwrap(), "6 306 0 2\n");
        assert_eq!(print(&format!("{q} -n packets"), &r).unwrap(), "4\n2\n");
        assert_eq!(
            print("-N 10.0.0.1 -c src_host", &r).unwrap_err(),
            "the daemon answered 2 results to 1 queries"
        );
    }

    #[test]
    fn erase_status_and_since_erase() {
        let mut r = response(vec![]);
        r.status = TableStatus {
            entries: 2,
            max_entries: None,
            overflow_packets: 0,
            overflow_bytes: 0,
            seconds_since_erase: Some(17),
            erased_ever: false,
        };
        assert_eq!(print("-e", &r).unwrap(), "OK: Clearing stats.\n");
        assert_eq!(print("-i", &r).unwrap(), "never\n");
        r.status.erased_ever = true;
        assert_eq!(print("-i", &r).unwrap(), "17\n");
        assert_eq!(
            print("-t", &r).unwrap(),
            "entries: 2\nmax_entries: unbounded\noverflow_packets: 0\noverflow_bytes: 0\n"
        );
    }

    #[test]
    fn requests() {
        let ops = |line: &str| request(&options(line)).map(|r| r.op).ok();
        assert_eq!(ops("-s"), Some(Op::Dump));
        assert_eq!(ops("-e"), Some(Op::Erase));
        assert_eq!(ops("-t"), Some(Op::Status));
        assert_eq!(ops("-i"), Some(Op::Status));
        assert_eq!(
            ops("-N 10.0.0.1,*;10.0.0.2,udp -c src_host,proto -r"),
            Some(Op::Match {
                queries: vec![
                    Query {
                        fields: vec![
                            ("src_host".into(), "10.0.0.1".into()),
                            ("proto".into(), "*".into())
                        ]
                    },
                    Query {
                        fields: vec![
                            ("src_host".into(), "10.0.0.2".into()),
                            ("proto".into(), "udp".into())
                        ]
                    },
                ],
                reset: true,
            })
        );
        let r = request(&options("-s")).unwrap();
        assert_eq!(r.protocol, PROTOCOL_VERSION);
    }

    fn decode_error(text: &str) -> String {
        match decode(text.as_bytes()) {
            Err(Failure::Error { message, .. }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decoding_checks_version_then_error() {
        let mut r = dump();
        let ok = serde_json::to_string(&r).unwrap();
        assert_eq!(decode(format!("{ok}\n").as_bytes()).ok(), Some(r.clone()));
        // The packed wire form decodes to the same response.
        let mut wire = Vec::new();
        pmacct_core::query::write_response(&mut wire, &r).unwrap();
        assert_eq!(decode(&wire).ok(), Some(r.clone()));
        r.protocol = 3;
        r.error = Some("unsupported protocol version 2 (daemon speaks 3)".into());
        assert_eq!(
            decode_error(&serde_json::to_string(&r).unwrap()),
            "protocol version mismatch: client speaks 2, daemon speaks 3"
        );
        // A future daemon's answer need not even have today's shape.
        assert_eq!(
            decode_error(r#"{"protocol": 7, "rows": []}"#),
            "protocol version mismatch: client speaks 2, daemon speaks 7"
        );
        r.protocol = PROTOCOL_VERSION;
        r.error = Some("unknown primitive 'foo'".into());
        assert_eq!(
            decode_error(&serde_json::to_string(&r).unwrap()),
            "unknown primitive 'foo'"
        );
        assert_eq!(
            decode_error(""),
            "the daemon closed the connection without an answer"
        );
        assert!(decode_error("{oops").starts_with("invalid answer from the daemon: "));
        assert_eq!(
            decode_error("{}"),
            "invalid answer from the daemon: no protocol version"
        );
    }

    #[test]
    fn unknown_daemon_column() {
        let mut r = dump();
        r.columns.push("bogus".into());
        assert_eq!(
            print("-s", &r).unwrap_err(),
            "the daemon reported an unknown primitive 'bogus'"
        );
    }
}
