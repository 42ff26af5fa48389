//! The fuzz targets' smoke run on stable: every committed input under `fuzz/seeds/TARGET`
//! (the minimized corpus of the long runs, plus every input that once crashed a target) goes
//! through the target's body, then a fixed number of mutations of those inputs does, drawn
//! from a fixed seed so a failure names an input that reproduces. A panic fails the test with
//! the input written to a file. `scripts/fuzz.sh` is the real fuzzer (nightly, libFuzzer).

use std::path::{Path, PathBuf};

use pmacct_daemon::fuzzing::TARGETS;

/// Mutations run per target, over all its inputs.
const MUTATIONS: usize = 20_000;

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds")
}

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![seeds_dir().join(target)];
    // Targets that read the same kind of bytes share their seeds.
    match target {
        "socket" => dirs.push(seeds_dir().join("query")),
        "interfaces" => dirs.push(seeds_dir().join("maps")),
        "collector" => dirs.push(seeds_dir().join("flows")),
        _ => {}
    }
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
        }
    }
    out
}

/// The same mutations on every run.
struct Rng(pmacct_daemon::synth::Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
}

/// One to four of: flip a bit, set an interesting byte, insert, delete, duplicate a slice,
/// splice another input in.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, b'\n', b'=', b'"'];
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => v.insert(at, rng.next() as u8),
            3 if at < v.len() => {
                let n = rng.below(v.len() - at).min(64) + 1;
                v.drain(at..(at + n).min(v.len()));
            }
            4 if at < v.len() => {
                let n = rng.below(v.len() - at).min(256) + 1;
                let copy = v[at..(at + n).min(v.len())].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
            _ => {
                let from = rng.below(other.len() + 1);
                let n = rng.below(other.len() - from + 1).min(512);
                v.splice(at..at, other[from..from + n].iter().copied());
            }
        }
    }
    v
}

/// Runs `body` on `input`; on a panic, writes the input where the message says and fails.
fn run(target: &str, body: fn(&[u8]), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| body(input)).is_err() {
        let path = std::env::temp_dir().join(format!("fuzz-{target}-crash"));
        let _ = std::fs::write(&path, input);
        panic!(
            "target {target} panicked on {what}; the input is in {} (add it to fuzz/seeds/{target})",
            path.display()
        );
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    let mut summary = Vec::new();
    for (target, body) in TARGETS {
        let inputs = inputs(target);
        assert!(
            !inputs.is_empty(),
            "fuzz/seeds/{target} holds no inputs (scripts/fuzz.sh --save-seeds makes them)"
        );
        for (i, input) in inputs.iter().enumerate() {
            run(target, body, input, &format!("committed input {i}"));
        }
        let mut rng = Rng(pmacct_daemon::synth::Rng(
            0x9e37_79b9_7f4a_7c15 ^ target.len() as u64,
        ));
        for m in 0..MUTATIONS {
            let base = &inputs[rng.below(inputs.len())];
            let other = &inputs[rng.below(inputs.len())];
            let input = mutate(&mut rng, base, other);
            run(target, body, &input, &format!("mutation {m}"));
        }
        summary.push(format!(
            "{target}: {} inputs + {MUTATIONS} mutations",
            inputs.len()
        ));
    }
    println!("{}", summary.join("\n"));
}
