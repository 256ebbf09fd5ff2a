//! Learns when processes end, children or not: one thread waits in `epoll` on a pidfd per
//! watched process. A pidfd works for shims the engine did not start (after an engine
//! restart), and one thread serves every container.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::event::epoll;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::sync::oneshot;

type Waiting = Arc<Mutex<HashMap<u64, (OwnedFd, oneshot::Sender<()>)>>>;

/// The watcher; cheap to share.
#[derive(Debug)]
pub struct PidWatcher {
    epoll: Arc<OwnedFd>,
    waiting: Waiting,
    next: AtomicU64,
}

impl PidWatcher {
    /// Starts the watcher thread.
    pub fn start() -> std::io::Result<Self> {
        let epoll = Arc::new(epoll::create(epoll::CreateFlags::CLOEXEC)?);
        let waiting: Waiting = Arc::default();
        let (thread_epoll, thread_waiting) = (epoll.clone(), waiting.clone());
        std::thread::Builder::new()
            .name("pidwatch".into())
            .spawn(move || run(&thread_epoll, &thread_waiting))?;
        Ok(Self {
            epoll,
            waiting,
            next: AtomicU64::new(1),
        })
    }

    /// Resolves when process `pid` has ended (at once if it is already gone).
    pub fn watch(&self, pid: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let fd = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .and_then(|pid| pidfd_open(pid, PidfdFlags::empty()).ok());
        let Some(fd) = fd else {
            tx.send(()).ok();
            return rx;
        };
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match epoll::add(
            &*self.epoll,
            &fd,
            epoll::EventData::new_u64(key),
            epoll::EventFlags::IN,
        ) {
            Ok(()) => {
                waiting.insert(key, (fd, tx));
            }
            Err(e) => {
                tracing::warn!(pid, "watching a process: {e}");
                tx.send(()).ok();
            }
        }
        rx
    }
}

fn run(epoll: &OwnedFd, waiting: &Waiting) {
    let mut events = Vec::with_capacity(32);
    loop {
        events.clear();
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::error!("process watcher stopped: {e}");
                return;
            }
        }
        let mut waiting = waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in &events {
            if let Some((fd, tx)) = waiting.remove(&event.data.u64()) {
                epoll::delete(epoll, &fd).ok();
                tx.send(()).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_exiting_child_is_reported_and_a_gone_pid_at_once() {
        let watcher = PidWatcher::start().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap();
        let done = watcher.watch(i64::from(child.id()));
        tokio::time::timeout(std::time::Duration::from_secs(10), done)
            .await
            .unwrap()
            .unwrap();
        child.wait().unwrap();
        let gone = watcher.watch(i64::from(i32::MAX));
        gone.await.unwrap();
    }
}
