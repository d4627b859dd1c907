//! Candidates for shell completion (clap_complete's dynamic engine, run by the binary
//! itself when `COMPLETE=<shell>` is set): the values of enum-like flags, profile names
//! from the config file, and grant and peer IDs asked from the gateway. Asking the
//! gateway is bounded by a short timeout and silent on any failure: a completion never
//! prints an error into the operator's command line.

use std::ffi::OsString;
use std::time::Duration;

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::api::client::Client;
use crate::api::env;
use crate::api::text::escape;
use crate::api::types::{AuditAction, GrantStatus};
use crate::config::{Given, Source};

/// Longest a completion waits for the gateway, per request.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn statuses() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        [
            GrantStatus::Pending,
            GrantStatus::Active,
            GrantStatus::Revoked,
            GrantStatus::Expired,
        ]
        .into_iter()
        .map(|s| CompletionCandidate::new(s.as_str()))
        .collect()
    })
}

pub fn actions() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        AuditAction::ALL
            .iter()
            .map(|a| CompletionCandidate::new(a.as_str()))
            .collect()
    })
}

/// The profiles of the config file.
pub fn profiles() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Ok(Some((_, file))) = crate::config::load_if_present() else {
            return Vec::new();
        };
        file.profiles
            .into_iter()
            .map(|(name, profile)| {
                let help = profile
                    .url
                    .as_deref()
                    .map(|u| escape(u).into_owned().into());
                CompletionCandidate::new(name).help(help)
            })
            .collect()
    })
}

/// Every grant of the gateway, with its status, user and peer as help.
pub fn grant_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        ask_gateway(|client| async move {
            let grants = client.list_all_grants(&Default::default()).await?;
            Ok(grants
                .into_iter()
                .map(|g| {
                    let help = format!(
                        "{} (user {}, peer {})",
                        g.status.as_str(),
                        escape(&g.user_id),
                        escape(&g.peer_id)
                    );
                    CompletionCandidate::new(g.id).help(Some(help.into()))
                })
                .collect())
        })
    })
}

/// Every peer of the gateway, with its name and status as help.
pub fn peer_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        ask_gateway(|client| async move {
            let peers = client.list_all_peers().await?;
            Ok(peers
                .into_iter()
                .map(|p| {
                    let help = format!("{} ({})", escape(&p.name), p.status.as_str());
                    CompletionCandidate::new(p.id).help(Some(help.into()))
                })
                .collect())
        })
    })
}

/// Runs `ask` against the gateway the command line being completed (or the environment,
/// or the profile) names; nothing on any failure.
fn ask_gateway<F, Fut>(ask: F) -> Vec<CompletionCandidate>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<Vec<CompletionCandidate>>>,
{
    // This process only completes: whatever goes wrong, nothing may reach the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::install_crypto_provider();
        let client = crate::config::settings(given_on_the_line(std::env::args_os()))
            .and_then(|s| s.client_config())
            .and_then(Client::new);
        let Ok(client) = client else {
            return Vec::new();
        };
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return Vec::new();
        };
        runtime.block_on(ask(client)).unwrap_or_default()
    }))
    .unwrap_or_default()
}

/// The connection flags on the command line being completed (`mosaic … --gateway URL
/// …`), else the environment; the profile fills in the rest as for any command.
fn given_on_the_line(args: impl Iterator<Item = OsString>) -> Given {
    let args: Vec<String> = args
        .map(|a| a.to_string_lossy().into_owned())
        .skip_while(|a| a != "--")
        .collect();
    let flag = |name: &str| -> Option<String> {
        let long = format!("--{name}");
        let with_eq = format!("--{name}=");
        args.iter().enumerate().rev().find_map(|(i, a)| {
            if *a == long {
                args.get(i + 1).cloned()
            } else {
                a.strip_prefix(&with_eq).map(str::to_string)
            }
        })
    };
    let pick = |name: &str, var: &str| match flag(name) {
        Some(v) => Some((v, Source::Flag)),
        None => std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (v, Source::Env(var.to_string()))),
    };
    Given {
        profile: pick("profile", env::PROFILE),
        gateway: pick("gateway", env::GATEWAY_URL),
        output: None,
        cacert: pick("cacert", env::CACERT).map(|(v, s)| (v.into(), s)),
        token_file: pick("token-file", env::ADMIN_TOKEN_FILE).map(|(v, s)| (v.into(), s)),
        admin_token: None,
        timeout: Some(GATEWAY_TIMEOUT.as_secs()),
        verbose: false,
        allow_insecure_http: args.iter().any(|a| a == "--allow-insecure-http"),
        config_may_be_missing: false,
    }
}
