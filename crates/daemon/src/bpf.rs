//! BPF programs compiled by libpcap for a link type and a netmask, run on frames in memory.
//!
//! The pcap crate compiles with a netmask of 0, so `ip broadcast` would match only
//! 255.255.255.255; tcpdump compiles with the capturing interface's netmask, and so do we
//! (`PCAP_NETMASK_UNKNOWN` where there is none, reading a file: libpcap then refuses
//! `ip broadcast` with a clear message instead of quietly matching less).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

#[repr(C)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct RawProgram {
    len: c_uint,
    insns: *mut BpfInsn,
}

#[repr(C)]
struct PacketHeader {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

#[link(name = "pcap")]
extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut c_void;
    fn pcap_compile(
        p: *mut c_void,
        program: *mut RawProgram,
        expr: *const c_char,
        optimize: c_int,
        netmask: c_uint,
    ) -> c_int;
    fn pcap_geterr(p: *mut c_void) -> *mut c_char;
    fn pcap_close(p: *mut c_void);
    fn pcap_lib_version() -> *const c_char;
    fn pcap_freecode(program: *mut RawProgram);
    fn pcap_offline_filter(
        program: *const RawProgram,
        header: *const PacketHeader,
        data: *const u8,
    ) -> c_int;
}

/// libpcap's own version line (`libpcap version 1.10.3 (with TPACKET_V3)`).
pub fn libpcap_version() -> String {
    // SAFETY: pcap_lib_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(pcap_lib_version()) }
        .to_string_lossy()
        .into_owned()
}

/// libpcap's "no netmask" value.
const NETMASK_UNKNOWN: c_uint = 0xffff_ffff;

/// A compiled filter. It owns its instructions (freed on drop).
pub struct Program(RawProgram);

// SAFETY: the program is plain memory owned by this value (libpcap allocated it for us and
// keeps no reference to it); running it only reads it.
unsafe impl Send for Program {}

impl Program {
    /// Compiles `expr` for link type `dlt`; `netmask` is the interface's IPv4 netmask (host
    /// order) if there is one. The error is libpcap's.
    pub fn compile(expr: &str, dlt: i32, netmask: Option<u32>) -> Result<Program, String> {
        let c_expr = CString::new(expr).map_err(|_| "the expression contains a NUL byte")?;
        // SAFETY: a dead handle needs no device; it is closed below on every path.
        let handle = unsafe { pcap_open_dead(dlt, 262_144) };
        if handle.is_null() {
            return Err("libpcap could not make a handle for the link type".into());
        }
        let mut raw = RawProgram {
            len: 0,
            insns: std::ptr::null_mut(),
        };
        let mask = netmask.unwrap_or(NETMASK_UNKNOWN);
        // SAFETY: `handle` is live, `raw` is a valid out-parameter, `c_expr` is a
        // NUL-terminated string that outlives the call.
        let rc = unsafe { pcap_compile(handle, &mut raw, c_expr.as_ptr(), 1, mask) };
        let result = if rc == 0 {
            Ok(Program(raw))
        } else {
            // SAFETY: pcap_geterr returns the handle's NUL-terminated message buffer, read
            // before the handle is closed.
            let message = unsafe { CStr::from_ptr(pcap_geterr(handle)) };
            Err(message.to_string_lossy().into_owned())
        };
        // SAFETY: the handle came from pcap_open_dead and is not used after this.
        unsafe { pcap_close(handle) };
        result
    }

    /// Whether a frame (captured bytes) passes.
    #[inline]
    pub fn matches(&self, frame: &[u8]) -> bool {
        let header = PacketHeader {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: frame.len() as u32,
            len: frame.len() as u32,
        };
        // SAFETY: the program is valid while `self` lives; the header's caplen is the length
        // of `frame`, so the filter reads only its bytes.
        unsafe { pcap_offline_filter(&self.0, &header, frame.as_ptr()) != 0 }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the instructions were allocated by pcap_compile and are freed once.
        unsafe { pcap_freecode(&mut self.0) };
    }
}

/// The IPv4 netmask of an interface (host order), as libpcap lists it.
pub fn netmask_of(ifname: &str) -> Option<u32> {
    let devices = pcap::Device::list().ok()?;
    let device = devices.into_iter().find(|d| d.name == ifname)?;
    device.addresses.iter().find_map(|a| match a.netmask {
        Some(std::net::IpAddr::V4(m)) if a.addr.is_ipv4() => Some(u32::from(m)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + UDP frame to `dst`.
    fn frame(dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 60, 2]);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        f
    }

    #[test]
    fn broadcast_follows_the_netmask() {
        let ethernet = 1;
        let with_mask = Program::compile("ip broadcast", ethernet, Some(0xffff_ff00)).unwrap();
        assert!(with_mask.matches(&frame([192, 168, 60, 255])));
        assert!(with_mask.matches(&frame([255, 255, 255, 255])));
        assert!(!with_mask.matches(&frame([192, 168, 60, 7])));
        let e = Program::compile("ip broadcast", ethernet, None)
            .err()
            .unwrap();
        assert!(e.contains("netmask not known"), "{e}");
    }

    #[test]
    fn filters_and_errors() {
        let udp = Program::compile("udp and dst port 53", 1, None).unwrap();
        assert!(udp.matches(&frame([10, 0, 0, 1])));
        let tcp = Program::compile("tcp", 1, None).unwrap();
        assert!(!tcp.matches(&frame([10, 0, 0, 1])));
        // A frame cut short never reads past its end.
        assert!(!udp.matches(&frame([10, 0, 0, 1])[..20]));
        let e = Program::compile("tcp and", 1, None).err().unwrap();
        assert!(e.contains("syntax error"), "{e}");
        assert!(Program::compile("a\0b", 1, None).is_err());
    }

    #[test]
    fn loopback_has_a_netmask() {
        assert_eq!(netmask_of("lo"), Some(0xff00_0000));
        assert_eq!(netmask_of("no-such-if0"), None);
    }
}
