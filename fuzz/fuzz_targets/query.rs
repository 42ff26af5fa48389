//! The memory plugin's query protocol: a request line as the daemon parses it (and its match
//! queries compiled), and a response as the client reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pmacct_core::query::{read_response, Matcher, Op, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        if let Op::Match { queries, .. } = &request.op {
            for q in queries {
                let _ = Matcher::compile(q);
            }
        }
    }
    let _ = read_response(data);
});
