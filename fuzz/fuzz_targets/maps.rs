//! The map and list parsers: pre_tag_map, networks_file, ports_file, quota caps, and the tag
//! filters (the first byte picks one).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pmacct_core::networks::{Networks, PortSet};
use pmacct_core::pretag::{LabelFilter, PreTagMap, TagFilter};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 6 {
        0 => drop(PreTagMap::parse("fuzz.map", &text)),
        1 => drop(Networks::parse("fuzz.lst", &text)),
        2 => drop(PortSet::parse("fuzz.ports", &text)),
        3 => drop(pmacct_core::caps::parse("fuzz.caps", &text)),
        4 => drop(TagFilter::parse(&text)),
        _ => drop(LabelFilter::parse(&text)),
    }
});
