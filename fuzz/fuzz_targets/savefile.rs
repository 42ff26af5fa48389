//! The capture-file reader (pcap in both byte orders and resolutions, pcapng): every record
//! it returns, and its errors, without panics or endless loops.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pmacct_wire::savefile::Savefile;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Savefile::open(data) else {
        return;
    };
    let _ = reader.first_link(data);
    // Each record moves the reader forward, so this ends; the bound is a guard.
    for _ in 0..100_000 {
        match reader.next(data) {
            Ok(Some(p)) => {
                let _ = reader.interface_name(p.interface);
            }
            _ => break,
        }
    }
});
