//! Sans-IO flow export: a flow meter that turns observed packets into flows by pmacct's
//! (softflowd's) timeouts ([`Meter`]), and encoders that pack flows into NetFlow v5, NetFlow
//! v9 and IPFIX datagrams ([`Exporter`]), and sampled packets and interface counters into
//! sFlow v5 datagrams ([`SflowExporter`]). None owns a socket or reads a clock: the caller
//! hands in packets with their time and sends the datagrams it is given.
//!
//! Promises:
//! - The meter holds at most its `max_flows`; a new flow beyond it first exports the
//!   least recently seen sixteenth of the table (counted in [`MeterStats::forced`]): nothing
//!   observed is lost.
//! - Every datagram fits the size it is given, and holds whole records; sequence numbers are
//!   each version's (v5: flows before it, v9: datagrams before it, IPFIX: data records before
//!   it). v9 and IPFIX templates go in the first datagram and again on a schedule.
//! - What a version cannot carry is counted, never sent half-right: v5 takes IPv4 flows only
//!   ([`ExporterStats::unexportable`]); v5 counters past 32 bits are split over records.

mod encode;
mod meter;
mod sflow;

pub use encode::{ExportConfig, ExportField, ExportVersion, Exporter, ExporterStats};
pub use meter::{Meter, MeterStats, Metered, Timeouts};
pub use sflow::{
    FlowSampleOut, InterfaceCountersOut, SflowAgentConfig, SflowExporter, SflowExporterStats,
    SFLOW_HEADER_BYTES,
};
