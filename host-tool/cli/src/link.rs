//! The wire to an agent: a TCP connection or a serial line, both carrying the same frames.
//!
//! This module only moves bytes: on a serial line the frames share the wire with the console (boot
//! messages, the agent's prompt) and the core's client state machine picks them out. Every read has
//! a deadline, so a silent or babbling peer ends in an "unreachable" error, never a hang.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::{Result, ToolError};

pub const DEFAULT_PORT: u16 = 7743;
pub const DEFAULT_BAUD: u32 = 115_200;

/// Where the agent is.
#[derive(Clone, Debug)]
pub enum Target {
    Tcp(String),
    Serial { device: String, baud: u32 },
}

impl Target {
    /// A short name for messages and for `TESSERA_HOST`.
    pub fn label(&self) -> String {
        match self {
            Target::Tcp(h) => h.clone(),
            Target::Serial { device, .. } => device.clone(),
        }
    }
}

pub struct Link {
    io: Box<dyn ReadWrite>,
    pub is_serial: bool,
    /// Bytes that travelled each way, for the benchmark and `--verbose`.
    pub sent: usize,
    pub received: usize,
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Link {
    pub fn open(target: &Target, timeout: Duration) -> Result<Link> {
        match target {
            Target::Tcp(host) => {
                let addrs = resolve(host)?;
                let mut last = None;
                for a in &addrs {
                    match TcpStream::connect_timeout(a, timeout) {
                        Ok(s) => {
                            s.set_nodelay(true).ok();
                            s.set_read_timeout(Some(Duration::from_millis(200))).ok();
                            return Ok(Link::new(Box::new(s), false));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let error = last
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no address".into());
                Err(ToolError::Connect {
                    host: host.clone(),
                    error,
                })
            }
            Target::Serial { device, baud } => {
                let port = serialport::new(device, *baud)
                    .timeout(Duration::from_millis(200))
                    .open_native()
                    .map_err(|e| ToolError::OpenSerial {
                        device: device.clone(),
                        error: e.to_string(),
                    })?;
                Ok(Link::new(Box::new(port), true))
            }
        }
    }

    fn new(io: Box<dyn ReadWrite>, is_serial: bool) -> Link {
        Link {
            io,
            is_serial,
            sent: 0,
            received: 0,
        }
    }

    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        self.io
            .write_all(frame)
            .and_then(|_| self.io.flush())
            .map_err(ToolError::SendBroke)?;
        self.sent += frame.len();
        Ok(())
    }

    /// The next bytes from the agent (frames and, on a serial line, console text); an empty
    /// vector when `deadline` passes first.
    pub fn read(&mut self, deadline: Instant) -> Result<Vec<u8>> {
        let mut chunk = [0u8; 1024];
        while Instant::now() < deadline {
            match self.io.read(&mut chunk) {
                Ok(0) if self.is_serial => {}
                Ok(0) => return Err(ToolError::Closed),
                Ok(n) => {
                    self.received += n;
                    return Ok(chunk[..n].to_vec());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(ToolError::ReadBroke(e)),
            }
        }
        Ok(Vec::new())
    }
}

fn resolve(host: &str) -> Result<Vec<SocketAddr>> {
    let with_port = if host.parse::<SocketAddr>().is_ok() {
        host.to_string()
    } else if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        // A bare IPv6 address has colons but no port.
        SocketAddr::new(ip, DEFAULT_PORT).to_string()
    } else if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:{DEFAULT_PORT}")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|error| ToolError::Resolve {
            host: host.into(),
            error,
        })?
        .collect();
    Ok(addrs)
}
