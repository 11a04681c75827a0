//! The person at the serial console: the prompt for the first waiting volume, the keys they type,
//! and what the console is told (`NAME unlocked`, a wrong passphrase).
//!
//! It gets only console text (the serial pump in `serial.rs` takes the frames out) and hands a
//! submitted line to [`Shared::unlock`]. Nothing typed is echoed, and a line is wiped once handed
//! on (`line_editor.rs`).

use std::rc::Rc;

use smol::io::AsyncWriteExt;
use smol::Async;
use zeroize::Zeroizing;

use crate::backend::Attempt;
use crate::line_editor::{Event, LineEditor};
use crate::state::Shared;

pub struct Console {
    shared: Rc<Shared>,
    io: Async<std::fs::File>,
    editor: LineEditor,
    /// The volume the prompt on screen is for.
    prompted: Option<usize>,
}

impl Console {
    pub fn new(shared: Rc<Shared>, io: Async<std::fs::File>) -> Console {
        Console {
            shared,
            io,
            editor: LineEditor::new(),
            prompted: None,
        }
    }

    /// The console's tty, for the serial pump to read from.
    pub fn tty(&self) -> &Async<std::fs::File> {
        &self.io
    }

    pub async fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        (&self.io).write_all(bytes).await?;
        (&self.io).flush().await
    }

    /// Shows the prompt for the first waiting volume, after telling the console about volumes
    /// that the network opened meanwhile.
    pub async fn prompt(&mut self) -> std::io::Result<()> {
        self.shared.notice_unlocked_elsewhere();
        let first = self.shared.first_waiting();
        if first == self.prompted {
            return Ok(());
        }
        if let Some(old) = self.prompted {
            let name = &self.shared.cfg.volumes[old].name;
            self.editor.clear();
            self.write(format!("\r\n{name} unlocked\r\n").as_bytes())
                .await?;
        }
        self.prompted = first;
        if first.is_none() && self.shared.all_done() {
            self.shared.console_caught_up.set(true);
            self.shared.changed.notify(usize::MAX);
        }
        if let Some(i) = first {
            let name = &self.shared.cfg.volumes[i].name;
            self.write(format!("Please unlock disk {name}: ").as_bytes())
                .await?;
        }
        Ok(())
    }

    pub async fn key(&mut self, b: u8) -> std::io::Result<()> {
        match self.editor.feed(b) {
            Event::None => Ok(()),
            Event::Cancelled => {
                self.write(b"^C\r\n").await?;
                self.prompted = None;
                self.prompt().await
            }
            Event::Submit => {
                self.write(b"\r\n").await?;
                let secret = self.editor.take(|l| Zeroizing::new(l.to_vec()));
                let Some(i) = self.prompted else {
                    return Ok(());
                };
                let name = self.shared.cfg.volumes[i].name.clone();
                let outcome = self.shared.unlock(i, secret, "the console").await;
                let msg = match outcome {
                    Attempt::Unlocked => format!("{name} unlocked\r\n"),
                    Attempt::WrongSecret => format!("Wrong passphrase for {name}, try again\r\n"),
                    Attempt::NotWaiting => format!("{name} unlocked\r\n"),
                    Attempt::Error(_) => format!("Could not unlock {name}, see the log\r\n"),
                };
                self.write(msg.as_bytes()).await?;
                // Ask again (same volume after a wrong secret, the next one otherwise).
                self.prompted = None;
                self.prompt().await
            }
        }
    }
}
