//! sfacctd: sFlow v5 from switches and routers (or a capture file of their datagrams).

#[path = "edge.rs"]
mod edge;

fn main() -> std::process::ExitCode {
    edge::main_for(pmacct_core::config::Program::Sfacctd)
}
