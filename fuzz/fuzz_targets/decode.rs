//! The frame decoder for every link type: the first byte picks the DLT, the rest is the frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pmacct_wire::LinkType;

const DLTS: [i32; 12] = [1, 0, 108, 12, 14, 101, 228, 229, 113, 276, 9, 105];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let Some(link) = LinkType::from_dlt(DLTS[usize::from(pick) % DLTS.len()]) else {
        return;
    };
    // The wire length is at least the captured length, sometimes more (snaplen cuts).
    let wire = frame.len() as u32 + u32::from(pick >> 6) * 100;
    let _ = pmacct_wire::decode(link, frame, wire);
});
