//! The serial console, owned by the agent: a person typing a passphrase at the prompt and the host
//! tool's frames share one byte stream (docs/interfaces.md, "The serial console").
//!
//! One stream decoder, the core's, reads the line: frames go to the session, the rest is console
//! text for the prompt (`console.rs`), and while a token lockout holds, frames are dropped unread.
//! Whichever path delivers a volume's secret first wins, and the console is told `NAME unlocked`.
//! Nothing typed is echoed. Garbage on the line can neither wedge the decoder (it resynchronises on
//! every `00`) nor grow memory (fixed buffers), and a frame that never ends is dropped after a pause.
//! A token lockout (ratelimit.rs) only ever stops frames: keys typed at the console are never
//! delayed by it.

use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::io::AsyncReadExt;
use smol::Async;

use crate::console::Console;
use crate::log::log;
use crate::ratelimit::Peer;
use crate::session::{Reply, Session};
use crate::state::Shared;
use crate::tty::Tty;

/// How often the prompt checks for volumes opened elsewhere.
const TICK: Duration = Duration::from_millis(500);
/// A frame start (`00 FE`) followed by this long a silence without the frame's end was noise (or a
/// tool killed mid-frame): the decoder is reset so that the keys typed next reach the prompt. A
/// sender writes a frame in one go, so a real frame never pauses this long (core: `in_frame`).
const FRAME_STALL: Duration = Duration::from_secs(1);

pub async fn serve(shared: Rc<Shared>, tty: Tty) -> std::io::Result<()> {
    let file = tty.try_clone()?;
    let io = Async::new(file)?;
    let mut con = Console::new(Rc::clone(&shared), io);
    let mut session = Session::new(&shared, Peer::Serial, "serial".into())?;
    let mut buf = [0u8; 256];
    let mut last_byte = Instant::now();
    con.prompt().await?;
    loop {
        // While a frame is half-way in, wake up when the line has been quiet for FRAME_STALL.
        let timeout = if session.in_frame() {
            FRAME_STALL
                .saturating_sub(last_byte.elapsed())
                .clamp(Duration::from_millis(10), TICK)
        } else {
            TICK
        };
        let changed = shared.changed.listen();
        let read = smol::future::or(async { Some(con.tty().read(&mut buf).await) }, async {
            smol::future::or(changed, async {
                smol::Timer::after(timeout).await;
            })
            .await;
            None
        })
        .await;
        let n = match read {
            None => {
                if session.in_frame() && last_byte.elapsed() >= FRAME_STALL {
                    log!(
                        "serial: a frame start without an end, dropped after {}s of silence",
                        FRAME_STALL.as_secs()
                    );
                    session.reset_input();
                }
                con.prompt().await?;
                continue;
            }
            Some(Ok(0)) => {
                // A pty whose other side closed reads EOF; wait for a new writer.
                smol::Timer::after(TICK).await;
                continue;
            }
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Some(Err(e)) => {
                // EIO on a pty without a peer: same as EOF.
                if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) {
                    smol::Timer::after(TICK).await;
                    continue;
                }
                return Err(e);
            }
        };
        last_byte = Instant::now();
        let mut input = &buf[..n];
        while !input.is_empty() {
            let locked = shared
                .limiter
                .borrow_mut()
                .locked_for(Peer::Serial, Instant::now());
            // Locked out after bad tokens: frames are dropped unread (no token verified, no
            // hello answered) while typed keys still reach the prompt at once.
            session.drop_frames(locked.is_some());
            let (used, reply) = session.step(input).await;
            input = input.get(used..).unwrap_or(&[]);
            match reply {
                Reply::None | Reply::BadFrame => {}
                Reply::Text(text) => {
                    for &b in text.iter() {
                        con.key(b).await?;
                    }
                }
                Reply::Frame(frame, _) => {
                    con.write(&frame).await?;
                    session.result_sent();
                }
                Reply::Dropped => log!(
                    "serial: frame ignored, rate limited after bad tokens ({}s left)",
                    locked.map_or(0, |d| d.as_secs() + 1)
                ),
            }
            if used == 0 {
                break;
            }
        }
        con.prompt().await?;
    }
}
