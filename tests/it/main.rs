//! One integration-test binary (one link step); a module per area. Every test drives the
//! real `mosaic` binary and/or a real `mosaic gateway serve` process over loopback HTTP,
//! so the whole binary needs the `gateway` feature (on by default).
#![cfg(feature = "gateway")]

mod audit;
mod cli;
mod common;
mod config;
mod credentials;
mod dataplane;
mod dataplane_refusals;
mod docs;
mod durability;
mod enrollment;
mod first_start;
mod fixtures;
mod gateway;
mod gateway_process;
mod gateway_tls;
mod grant;
mod grant_input;
mod limits;
mod next_step;
mod observe;
mod operator;
mod output;
mod peer_add;
mod peer_add_hostile;
mod peers;
mod proxy;
mod renewal;
mod replicas;
mod reseal;
mod robustness;
mod scripting;
mod snapshots;
mod stranding;
mod strict_input;
mod terminal;
mod transport;
mod traps;
