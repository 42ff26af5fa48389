//! pcapgen: writes a deterministic synthetic capture for tests and benchmarks.
//!
//! Usage: `pcapgen <out.pcap> <packets> [hosts=1000] [seconds=600] [start_epoch=1700000000]
//! [ethernet|fabricpath|vntag|wlan|names]` (`names`: DNS answers, TLS, HTTP and QUIC naming
//! servers among the data, `synth::names::write_mix`; hosts and seconds are its own)

use pmacct_daemon::synth::Framing;

const USAGE: &str = "usage: pcapgen <out.pcap> <packets> [hosts=1000] [seconds=600] [start_epoch=1700000000] [ethernet|fabricpath|vntag|wlan|names]";

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    if args.get(6).is_some_and(|a| a == "names") {
        let start = u32::try_from(num(5, 1_700_000_000)).unwrap_or(1_700_000_000);
        return pmacct_daemon::synth::names::write_mix(
            std::path::Path::new(&args[1]),
            num(2, 1000),
            start,
        );
    }
    let framing = match args.get(6) {
        None => Framing::Ethernet,
        Some(name) => Framing::parse(name).unwrap_or_else(|| {
            eprintln!("unknown framing '{name}'\n{USAGE}");
            std::process::exit(2);
        }),
    };
    pmacct_daemon::synth::write_pcap_framed(
        std::path::Path::new(&args[1]),
        num(2, 1000),
        num(3, 1000),
        num(4, 600),
        num(5, 1_700_000_000),
        framing,
    )
}
