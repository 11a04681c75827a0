//! A client for NUT's `upsd` (TCP 3493): `LIST UPS`, then `LIST VAR` for each UPS.
//!
//! Read-only: it never sends SET, INSTCMD, LOGIN or FSD. The line parser is pure (no I/O) so the
//! fuzzer can drive it; the client bounds every line and every list and puts a timeout on every
//! read, so a hostile or hung server can neither exhaust memory nor hang the exporter.

use crate::error::SensorError;
use crate::model::{Kind, Reading, SensorResult, Ups};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// NUT's IANA port.
pub const DEFAULT_PORT: u16 = 3493;
/// Longest line we accept; upsd's own limit for a value is 256 bytes, names are shorter.
pub const MAX_LINE: usize = 4096;
/// Most entries we accept in one LIST reply; a real UPS has a few hundred variables at most.
pub const MAX_LIST: usize = 4096;

/// Why a protocol line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    UnterminatedQuote,
    DanglingEscape,
    TooLong,
}

/// Splits one upsd line into words: blanks separate words, `"..."` groups a word, and inside
/// quotes `\"` and `\\` stand for `"` and `\`.
pub fn parse_line(line: &str) -> Result<Vec<String>, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    let mut words = Vec::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' || c == '\t' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(LineError::UnterminatedQuote),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        None => return Err(LineError::DanglingEscape),
                        Some(e) => word.push(e),
                    },
                    Some(ch) => word.push(ch),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ' ' || ch == '\t' {
                    break;
                }
                if ch == '\\' {
                    chars.next();
                    match chars.next() {
                        None => return Err(LineError::DanglingEscape),
                        Some(e) => word.push(e),
                    }
                    continue;
                }
                word.push(ch);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// Quotes a word for sending, escaping `"` and `\` as upsd expects.
fn quote(word: &str) -> String {
    let mut s = String::with_capacity(word.len() + 2);
    s.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Where to find upsd and how to talk to it.
#[derive(Debug, Clone)]
pub struct NutServer {
    pub host: String,
    pub port: u16,
    /// Only this UPS (from `ups@host`); all listed ones otherwise.
    pub ups: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

impl NutServer {
    /// Parses `[UPS@]HOST[:PORT]`; HOST may be `[v6addr]`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (ups, hostport) = match spec.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
            Some(_) => return Err(format!("--nut {spec}: empty UPS name before '@'")),
            None => (None, spec),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("--nut {spec}: missing ']'"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("--nut {spec}: bad port {p:?}"))?,
                None if tail.is_empty() => DEFAULT_PORT,
                None => return Err(format!("--nut {spec}: junk after ']'")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| format!("--nut {spec}: bad port {p:?}"))?,
                ),
                _ => (hostport.to_string(), DEFAULT_PORT),
            }
        };
        if host.is_empty() {
            return Err(format!("--nut {spec}: empty host"));
        }
        Ok(Self {
            host,
            port,
            ups,
            user: None,
            password: None,
            timeout: Duration::from_secs(5),
        })
    }

    /// `host:port` as shown in ids and errors.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Reads every UPS (or the one asked for). Never fails as a whole: a server that cannot be
    /// reached gives one error result, a UPS whose driver is down gives an error for that UPS.
    pub fn read(&self) -> Vec<SensorResult> {
        let endpoint = self.endpoint();
        let mut conn = match Conn::open(self) {
            Ok(c) => c,
            Err(e) => {
                let id = match &self.ups {
                    Some(u) => format!("{u}@{endpoint}"),
                    None => endpoint.clone(),
                };
                return vec![SensorResult::error(id, Kind::UpsNut, e)];
            }
        };
        let names = match &self.ups {
            Some(u) => Ok(vec![u.clone()]),
            None => conn.list_ups(),
        };
        let names = match names {
            Ok(n) => n,
            Err(e) => return vec![SensorResult::error(endpoint, Kind::UpsNut, e)],
        };
        let mut out = Vec::new();
        let mut broken: Option<SensorError> = None;
        for name in names {
            let id = format!("{name}@{endpoint}");
            // Once the connection is gone every later UPS fails the same way; say so per UPS.
            let res = match &broken {
                Some(e) => Err(e.clone()),
                None => conn.list_var(&name),
            };
            let reading = match res {
                Ok(vars) => Reading::Ups(Ups::new(name, vars)),
                Err(e) => {
                    if matches!(
                        e,
                        SensorError::ConnectionLost { .. } | SensorError::Timeout { .. }
                    ) {
                        broken = Some(e.clone());
                    }
                    Reading::Error(e)
                }
            };
            out.push(SensorResult {
                id,
                kind: Kind::UpsNut,
                reading,
            });
        }
        if broken.is_none() {
            let _ = conn.send("LOGOUT");
        }
        out
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    device: String,
}

impl Conn {
    fn open(server: &NutServer) -> Result<Self, SensorError> {
        let device = server.endpoint();
        let addrs = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .map_err(|e| SensorError::ConnectFailed {
                device: device.clone(),
                detail: e.to_string(),
            })?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, server.timeout) {
                Ok(stream) => {
                    let map = |e: std::io::Error| SensorError::from_io(&device, &e);
                    stream.set_read_timeout(Some(server.timeout)).map_err(map)?;
                    stream
                        .set_write_timeout(Some(server.timeout))
                        .map_err(map)?;
                    let mut conn = Self {
                        reader: BufReader::new(stream),
                        device: device.clone(),
                    };
                    if let Some(user) = &server.user {
                        conn.simple(&format!("USERNAME {}", quote(user)))?;
                        if let Some(pw) = &server.password {
                            conn.simple(&format!("PASSWORD {}", quote(pw)))?;
                        }
                    }
                    return Ok(conn);
                }
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(SensorError::ConnectFailed {
            device,
            detail: last.unwrap_or_else(|| "no address".into()),
        })
    }

    fn send(&mut self, line: &str) -> Result<(), SensorError> {
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| SensorError::from_io(&self.device, &e))
    }

    /// Reads one line of at most MAX_LINE bytes; EOF is a lost connection.
    fn line(&mut self) -> Result<Vec<String>, SensorError> {
        let mut buf = Vec::new();
        loop {
            let avail = self
                .reader
                .fill_buf()
                .map_err(|e| SensorError::from_io(&self.device, &e))?;
            if avail.is_empty() {
                return Err(SensorError::ConnectionLost {
                    device: self.device.clone(),
                });
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            buf.extend_from_slice(&avail[..take]);
            self.reader.consume(take);
            if buf.len() > MAX_LINE {
                return Err(self.garbled("line longer than 4096 bytes"));
            }
            if done {
                break;
            }
        }
        let text = String::from_utf8_lossy(&buf);
        let words = parse_line(&text)
            .map_err(|e| self.garbled(&format!("{e:?} in {:?}", text.trim_end())))?;
        if words.first().map(String::as_str) == Some("ERR") {
            let code = words.get(1).cloned().unwrap_or_else(|| "UNKNOWN".into());
            return Err(SensorError::Nut {
                device: self.device.clone(),
                code,
            });
        }
        Ok(words)
    }

    fn garbled(&self, detail: &str) -> SensorError {
        SensorError::Garbled {
            device: self.device.clone(),
            detail: detail.to_string(),
        }
    }

    fn simple(&mut self, cmd: &str) -> Result<(), SensorError> {
        self.send(cmd)?;
        let w = self.line()?;
        if w.first().map(String::as_str) == Some("OK") {
            Ok(())
        } else {
            Err(self.garbled(&format!("expected OK, got {w:?}")))
        }
    }

    /// Runs `LIST <what>` and returns the words after the echoed prefix of each entry line.
    fn list(&mut self, what: &[&str], entry: &str) -> Result<Vec<Vec<String>>, SensorError> {
        self.send(&format!("LIST {}", what.join(" ")))?;
        let begin = self.line()?;
        let expect: Vec<&str> = ["BEGIN", "LIST"].iter().chain(what).copied().collect();
        if begin != expect {
            return Err(self.garbled(&format!("expected {:?}, got {begin:?}", expect.join(" "))));
        }
        let mut entries = Vec::new();
        loop {
            let w = self.line()?;
            if w.first().map(String::as_str) == Some("END") {
                let end: Vec<&str> = ["END", "LIST"].iter().chain(what).copied().collect();
                if w != end {
                    return Err(self.garbled(&format!("expected {:?}, got {w:?}", end.join(" "))));
                }
                return Ok(entries);
            }
            if w.first().map(String::as_str) != Some(entry) {
                return Err(
                    self.garbled(&format!("unexpected line {w:?} in LIST {}", what.join(" ")))
                );
            }
            if entries.len() >= MAX_LIST {
                return Err(self.garbled("list longer than 4096 entries"));
            }
            entries.push(w);
        }
    }

    fn list_ups(&mut self) -> Result<Vec<String>, SensorError> {
        let entries = self.list(&["UPS"], "UPS")?;
        entries
            .into_iter()
            .map(|w| {
                w.get(1)
                    .cloned()
                    .ok_or_else(|| self.garbled("UPS line without a name"))
            })
            .collect()
    }

    fn list_var(&mut self, ups: &str) -> Result<BTreeMap<String, String>, SensorError> {
        let entries = self.list(&["VAR", ups], "VAR")?;
        let mut vars = BTreeMap::new();
        for w in entries {
            match w.as_slice() {
                [_, u, name, value] if u == ups => {
                    vars.insert(name.clone(), value.clone());
                }
                _ => return Err(self.garbled(&format!("bad VAR line {w:?}"))),
            }
        }
        Ok(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_values_with_escapes() {
        let w = parse_line(r#"VAR ups device.model "Eaton \"3S\" 550 \\ x""#).unwrap();
        assert_eq!(
            w,
            vec!["VAR", "ups", "device.model", r#"Eaton "3S" 550 \ x"#]
        );
    }

    #[test]
    fn empty_quoted_value_is_a_word() {
        assert_eq!(
            parse_line("VAR u ups.alarm \"\"\n").unwrap(),
            vec!["VAR", "u", "ups.alarm", ""]
        );
    }

    #[test]
    fn rejects_unterminated_quote_and_dangling_escape() {
        assert_eq!(
            parse_line("VAR u x \"abc"),
            Err(LineError::UnterminatedQuote)
        );
        assert_eq!(
            parse_line("VAR u x \"abc\\"),
            Err(LineError::DanglingEscape)
        );
        assert_eq!(
            parse_line(&"x".repeat(MAX_LINE + 1)),
            Err(LineError::TooLong)
        );
    }

    #[test]
    fn quote_round_trips() {
        let s = r#"pa"ss\word"#;
        assert_eq!(parse_line(&format!("PASSWORD {}", quote(s))).unwrap()[1], s);
    }

    #[test]
    fn parses_server_specs() {
        let s = NutServer::parse("eaton@10.0.0.2:3500").unwrap();
        assert_eq!(
            (s.ups.as_deref(), s.host.as_str(), s.port),
            (Some("eaton"), "10.0.0.2", 3500)
        );
        let s = NutServer::parse("localhost").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", DEFAULT_PORT));
        let s = NutServer::parse("[::1]:99").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.endpoint().as_str()),
            ("::1", 99, "[::1]:99")
        );
        assert!(NutServer::parse("host:notaport").is_err());
        assert!(NutServer::parse("@host").is_err());
    }
}
