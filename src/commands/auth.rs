//! `mosaic auth whoami` and `mosaic auth credential create|list|revoke`: who this command
//! line is to the gateway, and the gateway's named admin credentials. A secret is shown
//! once, by `credential create`; nothing else ever prints one.

use crate::api::client::Client;
use crate::api::credentials::{
    CreateCredentialRequest, CreatedCredential, Credential, MAX_EXPIRES_IN, WhoAmI, check_name,
};
use crate::cli::{AuthCommand, CredentialCommand, CredentialCreateArgs, CredentialRevokeArgs};
use crate::error::{Error, Result};
use crate::output::{self, OutputFormat, Render, emit, hint, or_dash, timestamp_or_dash};

pub async fn run(client: &Client, format: OutputFormat, cmd: AuthCommand) -> Result<()> {
    match cmd {
        AuthCommand::Whoami => emit(format, &client.whoami().await?),
        AuthCommand::Credential(CredentialCommand::Create(args)) => {
            create(client, format, args).await
        }
        AuthCommand::Credential(CredentialCommand::List) => {
            let all = client.list_credentials().await?;
            emit(format, all.as_slice())?;
            if all.is_empty() {
                hint(
                    format,
                    "No named credentials (only the bootstrap admin token).",
                );
            }
            Ok(())
        }
        AuthCommand::Credential(CredentialCommand::Revoke(args)) => {
            revoke(client, format, args).await
        }
    }
}

async fn create(client: &Client, format: OutputFormat, args: CredentialCreateArgs) -> Result<()> {
    check_name(&args.name).map_err(|e| Error::invalid_input(format!("NAME: {e}")))?;
    let expires_in = args
        .expires_in
        .map(|d| match u32::try_from(d.as_secs()) {
            Ok(s @ 30..=MAX_EXPIRES_IN) => Ok(s),
            _ => Err(Error::invalid_input(
                "--expires-in: must be from 30s to 10 years (e.g. 12h, 90d)",
            )),
        })
        .transpose()?;
    let req = CreateCredentialRequest {
        name: args.name,
        role: args.role,
        expires_in,
    };
    let created = client.create_credential(&req).await?;
    emit(format, &created)?;
    hint(
        format,
        "The secret is shown this once: hand it to its holder (a token file, \
         `mosaic config set-profile … --token-file`). Revoke it with \
         `mosaic auth credential revoke <id>`.",
    );
    Ok(())
}

async fn revoke(client: &Client, format: OutputFormat, args: CredentialRevokeArgs) -> Result<()> {
    if !args.yes && output::is_interactive() {
        let all = client.list_credentials().await?;
        let Some(c) = all.iter().find(|c| c.id == args.id) else {
            return Err(Error::not_found(format!(
                "no credential {}: `mosaic auth credential list` shows them",
                args.id
            )));
        };
        let question = format!(
            "Revoke credential {} ({}, role {})? Every replica refuses it from its next \
             request on; it cannot be used again.",
            c.id, c.name, c.role
        );
        if !output::confirm(&question)? {
            return Err(Error::invalid_input(
                "not confirmed: nothing was revoked (--yes skips the question)",
            ));
        }
    }
    let revoked = client.revoke_credential(&args.id).await?;
    emit(format, &revoked)?;
    hint(
        format,
        &format!("Revoked credential {} ({}).", revoked.name, revoked.id),
    );
    Ok(())
}

fn rows(c: &Credential) -> Vec<(&'static str, String)> {
    vec![
        ("id", c.id.clone()),
        ("name", c.name.clone()),
        ("role", c.role.to_string()),
        ("created", output::timestamp(c.created_at)),
        ("created_by", c.created_by.clone()),
        ("expires", timestamp_or_dash(c.expires_at)),
        ("revoked", timestamp_or_dash(c.revoked_at)),
    ]
}

impl Render for WhoAmI {
    fn quiet(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn table(&self) -> String {
        output::detail_table(&[
            ("name", self.name.clone()),
            ("role", self.role.to_string()),
            ("expires", timestamp_or_dash(self.expires_at)),
        ])
    }
}

impl Render for Credential {
    fn quiet(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn table(&self) -> String {
        output::detail_table(&rows(self))
    }
}

impl Render for CreatedCredential {
    /// `-q`: the secret alone, for `> name.token`.
    fn quiet(&self) -> Option<String> {
        Some(self.secret.clone())
    }

    fn table(&self) -> String {
        let mut rows = rows(&self.credential);
        rows.push(("secret", self.secret.clone()));
        output::detail_table(&rows)
    }
}

impl Render for [Credential] {
    fn quiet(&self) -> Option<String> {
        Some(self.iter().map(|c| format!("{}\n", c.id)).collect())
    }

    fn table(&self) -> String {
        let rows = self
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.role.to_string(),
                    or_dash(Some(&c.created_by)),
                    timestamp_or_dash(c.expires_at),
                    timestamp_or_dash(c.revoked_at),
                ]
            })
            .collect();
        output::list_table(
            &["ID", "NAME", "ROLE", "CREATED BY", "EXPIRES", "REVOKED"],
            rows,
        )
    }
}
