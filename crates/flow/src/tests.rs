//! Tests of the collector: hand-built datagrams per version, the real datagrams of the shared
//! corpus against Telegraf's and tshark's decodes, and mutations that must never panic.

mod build;
mod ipfix;
mod real;
mod robust;
mod sflow;
mod v5;
mod v9;
