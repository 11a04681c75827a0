//! The agent's runtime: one single-threaded executor for every task, and a thread per blocking job.
//!
//! Everything async runs on [`run`]'s executor; nothing here knows what the tasks do. Work that
//! blocks (cryptsetup's KDF, a FIFO waiting for its reader) must go through [`off_thread`], never
//! run on the executor, or every conversation stalls behind it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use event_listener::Event;
use smol::LocalExecutor;

use crate::log::log;

thread_local! {
    static EXECUTOR: LocalExecutor<'static> = const { LocalExecutor::new() };
}

/// Runs `fut` and every task it spawns on this thread until `fut` ends.
pub fn run<T>(fut: impl Future<Output = T>) -> T {
    EXECUTOR.with(|ex| smol::block_on(ex.run(fut)))
}

/// Runs `fut` on the agent's executor until it ends or the agent exits. Boxed so that every task
/// shares one task type: each distinct future type costs the binary a copy of the task machinery.
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    let fut: Pin<Box<dyn Future<Output = ()>>> = Box::pin(fut);
    EXECUTOR.with(|ex| ex.spawn(fut).detach());
}

/// Runs blocking work (cryptsetup, a FIFO waiting for its reader) on its own thread and awaits it.
/// A thread per job instead of a pool: there are at most a few jobs per boot, and a pool crate
/// costs ~10 KiB of agent size.
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let slot: Arc<(Mutex<Option<T>>, Event)> = Arc::new((Mutex::new(None), Event::new()));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let v = f();
            if let Ok(mut s) = theirs.0.lock() {
                *s = Some(v);
            }
            theirs.1.notify(usize::MAX);
        });
    if let Err(e) = spawned {
        // Without a thread the job cannot run; the agent stops and cryptroot falls back to askpass.
        log!("cannot start a thread: {e}");
        std::process::exit(2);
    }
    loop {
        let listener = slot.1.listen();
        if let Some(v) = slot.0.lock().ok().and_then(|mut s| s.take()) {
            return v;
        }
        listener.await;
    }
}
