//! The volumes and what has happened to them: the one place where a secret, from a token or typed at
//! the console, is turned into an unlock attempt.
//!
//! Attempts run one at a time (cryptsetup's KDF is the bottleneck and two attempts for one volume
//! must not race); each outcome is logged by name, never with the secret. Tasks that wait for a
//! change (the console prompt, the exit check) listen to [`Shared::changed`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use event_listener::Event;
use zeroize::Zeroizing;

use tessera_core::message::{VolumeInfo, VolumeState};
use tessera_core::Name;

use crate::backend::{self, Attempt};
use crate::challenge::{BootIdentity, Volumes};
use crate::config::{Config, Method, Volume};
use crate::handoff;
use crate::log::log;
use crate::ratelimit::RateLimit;
use crate::rt::{self, off_thread};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolState {
    /// Locked; the agent waits for its secret.
    Waiting,
    /// Verified; being written to the keyscript FIFO or askpass (counts as unlocked).
    HandingOff,
    /// Unlocked by this agent, or found unlocked by someone else.
    Done,
}

pub struct Shared {
    pub cfg: Config,
    pub identity: BootIdentity,
    states: RefCell<Vec<VolState>>,
    /// One unlock attempt at a time.
    busy: smol::lock::Mutex<()>,
    /// Sessions that are between "secrets received" and "result sent": the agent does not exit
    /// under them, so the last admin still hears that the last volume opened.
    in_flight: Cell<usize>,
    pub changed: Event,
    /// The serial console (if any) has shown that every volume is unlocked.
    pub console_caught_up: Cell<bool>,
    pub limiter: RefCell<RateLimit>,
}

impl Shared {
    pub fn new(cfg: Config, identity: BootIdentity) -> Rc<Shared> {
        let states = cfg.volumes.iter().map(|_| VolState::Waiting).collect();
        let cfg_has_no_serial = cfg.serial.is_none();
        Rc::new(Shared {
            cfg,
            identity,
            states: RefCell::new(states),
            busy: smol::lock::Mutex::new(()),
            in_flight: Cell::new(0),
            changed: Event::new(),
            console_caught_up: Cell::new(cfg_has_no_serial),
            limiter: RefCell::new(RateLimit::new()),
        })
    }

    pub fn state(&self, i: usize) -> VolState {
        self.states.borrow()[i]
    }

    /// The volume table as it is now, as a challenge lists it.
    pub fn volume_table(&self) -> Volumes {
        let mut volumes = Volumes::new();
        for (i, v) in self.cfg.volumes.iter().enumerate() {
            let state = match self.state(i) {
                VolState::Waiting => VolumeState::Waiting,
                VolState::HandingOff | VolState::Done => VolumeState::Unlocked,
            };
            // Names were checked in BootIdentity::new; the config holds at most MAX_VOLUMES.
            if let Ok(name) = Name::new(&v.name) {
                let _ = volumes.push(VolumeInfo { name, state });
            }
        }
        volumes
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.cfg.volumes.iter().position(|v| v.name == name)
    }

    /// The first volume still waiting, in config order (the console prompts for it).
    pub fn first_waiting(&self) -> Option<usize> {
        self.states
            .borrow()
            .iter()
            .position(|s| *s == VolState::Waiting)
    }

    /// Every volume unlocked and handed off, and no session still owes a result.
    pub fn all_done(&self) -> bool {
        self.in_flight.get() == 0 && self.states.borrow().iter().all(|s| *s == VolState::Done)
    }

    /// [`Self::all_done`], and the console has been told.
    pub fn finished(&self) -> bool {
        self.all_done() && self.console_caught_up.get()
    }

    fn set(&self, i: usize, s: VolState) {
        self.states.borrow_mut()[i] = s;
        self.changed.notify(usize::MAX);
    }

    /// Marks volumes that someone else opened (their /dev/mapper device appeared) as done.
    pub fn notice_unlocked_elsewhere(&self) {
        for (i, v) in self.cfg.volumes.iter().enumerate() {
            if self.state(i) == VolState::Waiting && !backend::is_waiting(v) {
                log!("{}: unlocked by someone else", v.name);
                self.set(i, VolState::Done);
            }
        }
    }

    pub fn begin_session(self: &Rc<Self>) -> SessionGuard {
        self.in_flight.set(self.in_flight.get() + 1);
        SessionGuard(Rc::clone(self))
    }

    /// Tries `secret` on volume `i`; `via` says where it came from, for the log.
    pub async fn unlock(
        self: &Rc<Self>,
        i: usize,
        secret: Zeroizing<Vec<u8>>,
        via: &str,
    ) -> Attempt {
        let _one_at_a_time = self.busy.lock().await;
        let vol: Volume = self.cfg.volumes[i].clone();
        if self.state(i) != VolState::Waiting {
            log!("{}: secret from {via} ignored, not waiting", vol.name);
            return Attempt::NotWaiting;
        }
        let (outcome, secret) = {
            let vol = vol.clone();
            off_thread(move || (backend::apply(&vol, &secret), secret)).await
        };
        match &outcome {
            Attempt::Unlocked => match vol.method {
                Method::Cryptsetup | Method::Test => {
                    log!("{}: unlocked (secret from {via})", vol.name);
                    self.set(i, VolState::Done);
                }
                Method::Keyscript | Method::Askpass => {
                    log!(
                        "{}: secret from {via} verified, handing it to cryptroot",
                        vol.name
                    );
                    self.set(i, VolState::HandingOff);
                    self.spawn_handoff(i, vol, secret);
                }
            },
            Attempt::WrongSecret => log!("{}: wrong secret from {via}", vol.name),
            Attempt::NotWaiting => {
                log!("{}: unlocked by someone else", vol.name);
                self.set(i, VolState::Done);
            }
            Attempt::Error(e) => log!("{}: error: {e}", vol.name),
        }
        outcome
    }

    fn spawn_handoff(self: &Rc<Self>, i: usize, vol: Volume, secret: Zeroizing<Vec<u8>>) {
        let run_dir = self.cfg.run_dir.clone();
        let passfifo = self.cfg.passfifo.clone();
        let me = Rc::clone(self);
        let name = vol.name.clone();
        let job = off_thread(move || match vol.method {
            Method::Askpass => handoff::to_askpass(&passfifo, &vol.name, &secret),
            _ => {
                handoff::write_when_read(&handoff::fifo_path(&run_dir, &vol.name), &secret, || true)
            }
        });
        rt::spawn(async move {
            match job.await {
                Ok(()) => log!("{name}: secret handed to cryptroot"),
                Err(e) => log!("{name}: could not hand the secret to cryptroot: {e}"),
            }
            me.set(i, VolState::Done);
        });
    }
}

/// Keeps the agent alive until a session's result is sent (see [`Shared::begin_session`]).
pub struct SessionGuard(Rc<Shared>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
        self.0.changed.notify(usize::MAX);
    }
}
