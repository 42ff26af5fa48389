//! pmacctd: packets from libpcap (live interfaces or capture files).

mod edge;

fn main() -> std::process::ExitCode {
    edge::main_for(pmacct_core::config::Program::Pmacctd)
}
