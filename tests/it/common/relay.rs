//! A TCP relay in front of a real gateway, for the tests that need a granting gateway
//! that is slow to answer: bytes pass through untouched (TLS included), except that the
//! relay can hold every byte a client sends until it is told to pass them on or to drop
//! the connections that wait. The gateway behind it stays the real one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    /// Whether client bytes are held.
    holding: bool,
    /// Bumped at each release; a connection held in an earlier epoch learns its fate.
    epoch: u64,
    /// The epochs whose held connections were dropped rather than passed on.
    dropped: Vec<u64>,
    /// Connections with client bytes waiting.
    waiting: usize,
}

pub struct Relay {
    /// `127.0.0.1:port`, where clients connect.
    pub addr: String,
    upstream: Arc<Mutex<Option<String>>>,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Relay {
    /// A relay on a free loopback port; it forwards once [`Relay::to`] names the upstream.
    pub fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream: Arc<Mutex<Option<String>>> = Arc::default();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let (up, st) = (upstream.clone(), state.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Some(target) = up.lock().unwrap().clone() else {
                    continue;
                };
                let st = st.clone();
                std::thread::spawn(move || relay(client, &target, st));
            }
        });
        Relay {
            addr,
            upstream,
            state,
        }
    }

    /// Forwards to `addr` (host:port) from now on.
    pub fn to(&self, addr: &str) {
        *self.upstream.lock().unwrap() = Some(addr.to_string());
    }

    /// Holds every client byte from now on.
    pub fn hold(&self) {
        self.state.0.lock().unwrap().holding = true;
    }

    /// Waits until `n` connections have client bytes held; panics after `within`.
    pub fn wait_held(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap();
        while s.waiting < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{} connections held, not {n}", s.waiting);
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Connections with client bytes held now.
    pub fn held(&self) -> usize {
        self.state.0.lock().unwrap().waiting
    }

    /// Stops holding: the held bytes go on (`drop` false) or their connections are closed
    /// without a byte reaching the upstream (`drop` true).
    pub fn release(&self, drop: bool) {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap();
        if drop {
            let epoch = s.epoch;
            s.dropped.push(epoch);
        }
        s.epoch += 1;
        s.holding = false;
        cv.notify_all();
    }
}

fn relay(client: TcpStream, target: &str, state: Arc<(Mutex<State>, Condvar)>) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    // Upstream to client: untouched.
    std::thread::spawn(move || pump(s2, c2));
    let (mut from, mut to) = (client, server);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !pass(&state) {
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Waits while bytes are held; whether they go on.
fn pass(state: &(Mutex<State>, Condvar)) -> bool {
    let (lock, cv) = state;
    let mut s = lock.lock().unwrap();
    if !s.holding {
        return true;
    }
    let epoch = s.epoch;
    s.waiting += 1;
    cv.notify_all();
    while s.holding && s.epoch == epoch {
        s = cv.wait(s).unwrap();
    }
    s.waiting -= 1;
    !s.dropped.contains(&epoch)
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}
