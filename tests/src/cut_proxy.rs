//! A TCP proxy a test can cut: every open connection is dropped and new ones are refused until it
//! is restored. Put in front of a real server (PostgreSQL, MariaDB) it makes that server
//! unreachable for one program under test, as a network partition would, or stopped (with the
//! server ending the open sessions itself), without touching the server other tests share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    /// Bumped on every cut: open connections watch it and drop.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let upstream = upstream.to_owned();
        let task = tokio::spawn({
            let cut = cut.clone();
            let generation = generation.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut dropped = generation.subscribe();
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = dropped.changed() => {}
                        }
                    });
                }
            }
        });
        Ok(Self {
            port,
            cut,
            generation,
            task,
        })
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Refuses new connections and leaves the open ones alone: with the server then ending those
    /// itself (`pg_terminate_backend`, as a fast shutdown does), a stopping server as its clients
    /// see it. [`Self::cut`] then drops whatever is still open.
    pub fn refuse_new(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
