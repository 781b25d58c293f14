//! Caps on open live-stock streams, in total (`live.max_streams`) and per client address
//! (`live.max_streams_per_client`). A permit is taken when a stream opens and given back when the
//! stream is dropped (the client went away, or shutdown).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("too many live streams from this address")]
    PerClient,
    #[error("too many live streams in total")]
    Total,
}

pub struct StreamCaps {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// An open stream's place under the caps; dropping it frees the place.
pub struct StreamPermit {
    caps: Arc<StreamCaps>,
    client: IpAddr,
}

impl StreamCaps {
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            max_total,
            max_per_client,
            open: Mutex::new(Open::default()),
        }
    }

    pub fn try_open(self: &Arc<Self>, client: IpAddr) -> Result<StreamPermit, CapError> {
        let mut open = self.open.lock().map_err(|_| CapError::Total)?;
        let mine = open.by_client.get(&client).copied().unwrap_or(0);
        if mine >= self.max_per_client {
            return Err(CapError::PerClient);
        }
        if open.total >= self.max_total {
            return Err(CapError::Total);
        }
        open.total += 1;
        open.by_client.insert(client, mine + 1);
        metrics::gauge!("shop_live_streams").set(open.total as f64);
        Ok(StreamPermit {
            caps: Arc::clone(self),
            client,
        })
    }

    pub fn open_streams(&self) -> usize {
        self.open.lock().map_or(0, |o| o.total)
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        if let Ok(mut open) = self.caps.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.by_client.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    open.by_client.remove(&self.client);
                }
            }
            metrics::gauge!("shop_live_streams").set(open.total as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_and_in_total_and_permits_come_back() {
        let caps = Arc::new(StreamCaps::new(3, 2));
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let a1 = caps.try_open(a).unwrap();
        let _a2 = caps.try_open(a).unwrap();
        assert_eq!(caps.try_open(a).err(), Some(CapError::PerClient));
        let _b1 = caps.try_open(b).unwrap();
        assert_eq!(caps.try_open(b).err(), Some(CapError::Total));
        drop(a1);
        assert_eq!(caps.open_streams(), 2);
        let _a3 = caps.try_open(a).unwrap();
    }
}
