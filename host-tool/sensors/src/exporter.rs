//! Serving the metrics: a tiny HTTP/1.x `/metrics` endpoint for Prometheus and an atomic writer
//! for node_exporter's textfile collector.
//!
//! Each scrape reads the sensors afresh, so a broken sensor shows up as `tessera_sensor_up 0` and
//! the others keep flowing. Each connection gets a thread (at most MAX_CLIENTS, beyond that 503) so
//! a client that sends nothing cannot stall Prometheus; requests are bounded (8 KiB head, 5 s to
//! send it); the sensors themselves are read by one scrape at a time, because two sessions on one
//! serial logger would interleave. The exporter must never grow or hang because of a client.

use crate::prometheus::Exposition;
use crate::{collect, Config};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Where `serve` listens by default (nut_exporter's port, loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9199";
const MAX_HEAD: usize = 8192;

/// The request line's method and path, once the head has arrived.
fn read_head(stream: &mut TcpStream) -> Option<(String, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.lines().next()?.split_whitespace();
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

fn respond(stream: &mut TcpStream, status: &str, ctype: &str, body: &str, head_only: bool) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(body.as_bytes());
    }
}

/// Answers one connection.
pub fn handle(mut stream: TcpStream, cfg: &Config, sensors: &Mutex<()>) {
    let Some((method, path)) = read_head(&mut stream) else {
        respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
            false,
        );
        return;
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
            false,
        );
        return;
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => {
            let results = {
                let _one_scrape_at_a_time = sensors.lock().unwrap_or_else(|p| p.into_inner());
                collect(cfg)
            };
            let body = Exposition::of(&results).render(false);
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
                head_only,
            );
        }
        "/" => respond(
            &mut stream,
            "200 OK",
            "text/html",
            "<html><body><h1>tessera sensors</h1><a href=\"/metrics\">/metrics</a></body></html>\n",
            head_only,
        ),
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "not found; try /metrics\n",
            head_only,
        ),
    }
}

/// Most connections handled at once.
pub const MAX_CLIENTS: usize = 8;

/// Serves until the listener fails, or after `max_requests` connections when given.
pub fn serve(
    listener: &TcpListener,
    cfg: &Config,
    max_requests: Option<usize>,
) -> std::io::Result<()> {
    let sensors = Mutex::new(());
    let busy = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let mut served = 0usize;
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(s) => s,
                // A client that vanished between SYN and accept is not our problem.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return Err(e),
            };
            if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                busy.fetch_sub(1, Ordering::SeqCst);
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "too many clients\n",
                    false,
                );
            } else {
                let (sensors, busy) = (&sensors, &busy);
                scope.spawn(move || {
                    handle(stream, cfg, sensors);
                    busy.fetch_sub(1, Ordering::SeqCst);
                });
            }
            served += 1;
            if max_requests.is_some_and(|m| served >= m) {
                break;
            }
        }
        Ok(())
    })
}

/// Writes `tessera_sensors.prom` in `dir` atomically: a temp file in the same directory, fsync,
/// then rename, so node_exporter never reads half a file. `node_*` families are left out because
/// node_exporter exports those itself and refuses duplicates.
pub fn write_textfile(dir: &Path, exposition: &Exposition) -> std::io::Result<std::path::PathBuf> {
    let target = dir.join("tessera_sensors.prom");
    let tmp = dir.join(format!(".tessera_sensors.prom.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(exposition.render(true).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|_| target)
}
