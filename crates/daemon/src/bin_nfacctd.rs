//! nfacctd: NetFlow v5/v9 and IPFIX from routers (or a capture file of their datagrams).

#[path = "edge.rs"]
mod edge;

fn main() -> std::process::ExitCode {
    edge::main_for(pmacct_core::config::Program::Nfacctd)
}
