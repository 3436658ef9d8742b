//! Worker threads: each runs its own single-threaded tokio runtime.
//!
//! Connections are dealt to workers round-robin at accept time and stay on their worker. A
//! connection's reads, engine calls and writes then never cross threads, which is what keeps
//! per-request CPU low; the engine's shard locks are the only state workers share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};

use crate::error::ServerError;

/// Tells a worker's connections that the server is shutting down.
#[derive(Debug, Default)]
pub(crate) struct WorkerShutdown {
    flag: AtomicBool,
    pub notify: Notify,
}

impl WorkerShutdown {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// The pool of worker threads.
#[derive(Debug)]
pub(crate) struct Workers {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    handle: Handle,
    shutdown: Arc<WorkerShutdown>,
    exit: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` worker threads.
    pub fn start(count: usize) -> Result<Workers, ServerError> {
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ServerError::Runtime)?;
            let handle = runtime.handle().clone();
            let (exit, exited) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("sessiond-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = exited.await;
                    });
                })
                .map_err(ServerError::Runtime)?;
            workers.push(Worker {
                handle,
                shutdown: Arc::new(WorkerShutdown::default()),
                exit: Some(exit),
                thread: Some(thread),
            });
        }
        Ok(Workers {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// The next worker in round-robin order: its index, runtime and shutdown signal.
    pub fn pick(&self) -> (usize, &Handle, &Arc<WorkerShutdown>) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let worker = &self.workers[index];
        (index, &worker.handle, &worker.shutdown)
    }

    /// The first worker's runtime, where a cluster node's Raft runs.
    pub fn first(&self) -> &Handle {
        &self.workers[0].handle
    }

    /// Asks every connection to finish.
    pub fn begin_shutdown(&self) {
        for worker in &self.workers {
            worker.shutdown.set();
        }
    }

    /// Stops the worker threads, dropping whatever connections remain, and waits for them.
    pub fn stop(&mut self) {
        for worker in &mut self.workers {
            if let Some(exit) = worker.exit.take() {
                let _ = exit.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}
