//! A small blocking AMQP 0-9-1 publisher: connect (PLAIN), declare the exchange, publish with
//! publisher confirms. Only what the amqp plugin needs; every frame the broker sends is read
//! through [`Frame::read`], bounded and checked.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xce;
/// The largest frame the client accepts from a broker.
const MAX_FRAME: u32 = 1 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("broker closed the {what}: {code} {text}")]
    Closed {
        what: &'static str,
        code: u16,
        text: String,
    },
    #[error("unexpected frame from the broker: {0}")]
    Protocol(String),
    #[error("the broker refused {0} messages (basic.nack)")]
    Refused(u64),
}

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub host: String,
    pub port: u16,
    pub vhost: String,
    pub user: String,
    pub password: String,
    pub frame_max: u32,
    pub heartbeat: u16,
    /// The messages' content type (`application/json`, `application/avro`).
    pub content_type: &'static str,
}

/// A method frame's class, method and arguments.
struct Method {
    class: u16,
    method: u16,
    args: Vec<u8>,
}

/// Argument encoding.
#[derive(Default)]
struct Args(Vec<u8>);

impl Args {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn short(mut self, s: &str) -> Self {
        let b = &s.as_bytes()[..s.len().min(255)];
        self.0.push(b.len() as u8);
        self.0.extend_from_slice(b);
        self
    }
    fn long(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
    /// An empty field table.
    fn table(self) -> Self {
        self.u32(0)
    }
}

/// Argument decoding, bounds checked.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AmqpError> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| AmqpError::Protocol("short method arguments".into()))?;
        self.at += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, AmqpError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, AmqpError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, AmqpError> {
        let s = self.take(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        Ok(u64::from_be_bytes(w))
    }
    fn short(&mut self) -> Result<String, AmqpError> {
        let n = usize::from(self.take(1)?[0]);
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// One frame as read.
struct Frame {
    kind: u8,
    channel: u16,
    payload: Vec<u8>,
}

impl Frame {
    fn read(stream: &mut TcpStream) -> Result<Frame, AmqpError> {
        let mut head = [0u8; 7];
        stream.read_exact(&mut head)?;
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
        if size > MAX_FRAME {
            return Err(AmqpError::Protocol(format!("a frame of {size} bytes")));
        }
        let mut payload = vec![0u8; size as usize + 1];
        stream.read_exact(&mut payload)?;
        if payload.pop() != Some(FRAME_END) {
            return Err(AmqpError::Protocol("a frame without its end marker".into()));
        }
        Ok(Frame {
            kind: head[0],
            channel: u16::from_be_bytes([head[1], head[2]]),
            payload,
        })
    }

    fn method(&self) -> Result<Method, AmqpError> {
        let mut c = Cursor {
            b: &self.payload,
            at: 0,
        };
        Ok(Method {
            class: c.u16()?,
            method: c.u16()?,
            args: self.payload.get(4..).unwrap_or(&[]).to_vec(),
        })
    }
}

fn frame(kind: u8, channel: u16, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

fn method_payload(class: u16, method: u16, args: Args) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + args.0.len());
    p.extend_from_slice(&class.to_be_bytes());
    p.extend_from_slice(&method.to_be_bytes());
    p.extend_from_slice(&args.0);
    p
}

/// A connection with one channel in confirm mode.
pub struct Publisher {
    stream: TcpStream,
    frame_max: u32,
    content_type: &'static str,
    /// Delivery tags: messages published on the channel so far.
    published: u64,
}

impl Publisher {
    /// Connects, logs in, opens channel 1 and puts it in confirm mode.
    pub fn connect(c: &Connect) -> Result<Publisher, AmqpError> {
        let mut stream = None;
        let mut last_error = None;
        for addr in (c.host.as_str(), c.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut stream = match (stream, last_error) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => {
                return Err(AmqpError::Protocol(format!("no address for '{}'", c.host)))
            }
        };
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        stream.write_all(b"AMQP\x00\x00\x09\x01")?;
        let mut p = Publisher {
            stream,
            frame_max: c.frame_max.max(4096),
            content_type: c.content_type,
            published: 0,
        };
        p.expect(0, 10, 10)?; // connection.start
        let response = format!("\0{}\0{}", c.user, c.password);
        let start_ok = Args::default()
            .table()
            .short("PLAIN")
            .long(response.as_bytes())
            .short("en_US");
        p.send_method(0, 10, 11, start_ok)?;
        let tune = p.expect(0, 10, 30)?; // connection.tune
        let mut t = Cursor {
            b: &tune.args,
            at: 0,
        };
        let (channel_max, server_frame_max) = (t.u16()?, t.u32()?);
        if server_frame_max > 0 {
            p.frame_max = p.frame_max.min(server_frame_max);
        }
        let tune_ok = Args::default()
            .u16(channel_max.clamp(1, 1))
            .u32(p.frame_max)
            .u16(c.heartbeat);
        p.send_method(0, 10, 31, tune_ok)?;
        p.send_method(0, 10, 40, Args::default().short(&c.vhost).short("").u8(0))?;
        p.expect(0, 10, 41)?; // connection.open-ok
        p.send_method(1, 20, 10, Args::default().short(""))?;
        p.expect(1, 20, 11)?; // channel.open-ok
        p.send_method(1, 85, 10, Args::default().u8(0))?;
        p.expect(1, 85, 11)?; // confirm.select-ok
        Ok(p)
    }

    /// exchange.declare (durable when messages are persistent, as pmacct does).
    pub fn declare_exchange(
        &mut self,
        name: &str,
        kind: &str,
        durable: bool,
    ) -> Result<(), AmqpError> {
        let args = Args::default()
            .u16(0)
            .short(name)
            .short(kind)
            .u8(u8::from(durable) << 1)
            .table();
        self.send_method(1, 40, 10, args)?;
        self.expect(1, 40, 11).map(|_| ())
    }

    /// Publishes each `(routing key, body)` and waits until the broker has confirmed them all.
    pub fn publish(
        &mut self,
        exchange: &str,
        messages: &[super::Message],
        persistent: bool,
    ) -> Result<(), AmqpError> {
        let mut out = Vec::new();
        for m in messages {
            self.publish_frames(exchange, &m.route, &m.body, persistent, &mut out);
        }
        self.stream.write_all(&out)?;
        let last = self.published + messages.len() as u64;
        self.wait_confirms(last)?;
        self.published = last;
        Ok(())
    }

    fn publish_frames(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        persistent: bool,
        out: &mut Vec<u8>,
    ) {
        let publish = Args::default().u16(0).short(exchange).short(key).u8(0);
        frame(FRAME_METHOD, 1, &method_payload(60, 40, publish), out);
        // content-type and delivery-mode.
        let flags: u16 = (1 << 15) | (1 << 12);
        let mut header = Vec::with_capacity(32);
        header.extend_from_slice(&60u16.to_be_bytes());
        header.extend_from_slice(&0u16.to_be_bytes());
        header.extend_from_slice(&(body.len() as u64).to_be_bytes());
        header.extend_from_slice(&flags.to_be_bytes());
        header.extend_from_slice(&Args::default().short(self.content_type).0);
        header.push(if persistent { 2 } else { 1 });
        frame(FRAME_HEADER, 1, &header, out);
        let chunk = (self.frame_max as usize).saturating_sub(8).max(1);
        for piece in body.chunks(chunk) {
            frame(FRAME_BODY, 1, piece, out);
        }
    }

    /// Reads basic.ack / basic.nack until every delivery tag after `self.published` up to
    /// `last` is settled (confirms may come out of order: a single ack settles its tag only).
    fn wait_confirms(&mut self, last: u64) -> Result<(), AmqpError> {
        let first = self.published + 1;
        let mut open: Vec<bool> = vec![true; (last + 1).saturating_sub(first) as usize];
        let mut left = open.len();
        let mut refused = 0u64;
        while left > 0 {
            let m = self.next_method()?;
            let mut c = Cursor { b: &m.args, at: 0 };
            match (m.class, m.method) {
                (60, 80) | (60, 120) => {
                    let tag = c.u64()?;
                    let multiple = c.take(1)?[0] & 1 == 1;
                    let from = if multiple { first } else { tag };
                    for t in from.max(first)..=tag.min(last) {
                        let slot = &mut open[(t - first) as usize];
                        if *slot {
                            *slot = false;
                            left -= 1;
                            refused += u64::from(m.method == 120);
                        }
                    }
                }
                (60, 50) => {} // basic.return: unroutable, confirmed after
                other => {
                    return Err(AmqpError::Protocol(format!(
                        "method {}.{} while waiting for confirms",
                        other.0, other.1
                    )))
                }
            }
        }
        match refused {
            0 => Ok(()),
            n => Err(AmqpError::Refused(n)),
        }
    }

    fn send_method(
        &mut self,
        channel: u16,
        class: u16,
        method: u16,
        args: Args,
    ) -> Result<(), AmqpError> {
        let mut out = Vec::new();
        frame(
            FRAME_METHOD,
            channel,
            &method_payload(class, method, args),
            &mut out,
        );
        self.stream.write_all(&out)?;
        Ok(())
    }

    /// The next method frame (heartbeats answered, content frames of returns skipped); a
    /// close from the broker is an error with its reason.
    fn next_method(&mut self) -> Result<Method, AmqpError> {
        loop {
            let f = Frame::read(&mut self.stream)?;
            match f.kind {
                FRAME_HEARTBEAT => {
                    let mut out = Vec::new();
                    frame(FRAME_HEARTBEAT, 0, &[], &mut out);
                    self.stream.write_all(&out)?;
                }
                FRAME_HEADER | FRAME_BODY => {}
                FRAME_METHOD => {
                    let m = f.method()?;
                    if let Some(what) = match (m.class, m.method) {
                        (10, 50) => Some("connection"),
                        (20, 40) => Some("channel"),
                        _ => None,
                    } {
                        let mut c = Cursor { b: &m.args, at: 0 };
                        let (code, text) = (c.u16()?, c.short()?);
                        let ok = if f.channel == 0 { (10, 51) } else { (20, 41) };
                        let _ = self.send_method(f.channel, ok.0, ok.1, Args::default());
                        return Err(AmqpError::Closed { what, code, text });
                    }
                    return Ok(m);
                }
                other => return Err(AmqpError::Protocol(format!("frame type {other}"))),
            }
        }
    }

    fn expect(&mut self, _channel: u16, class: u16, method: u16) -> Result<Method, AmqpError> {
        let m = self.next_method()?;
        if (m.class, m.method) != (class, method) {
            return Err(AmqpError::Protocol(format!(
                "method {}.{} where {class}.{method} was expected",
                m.class, m.method
            )));
        }
        Ok(m)
    }

    /// connection.close, politely.
    pub fn close(mut self) {
        let args = Args::default().u16(200).short("bye").u16(0).u16(0);
        if self.send_method(0, 10, 50, args).is_ok() {
            let _ = self.expect(0, 10, 51);
        }
    }
}
