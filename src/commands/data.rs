//! `mosaic federation data import`: load rows of one resource for one user into the
//! granting gateway, so that peers have something to read. Idempotent by row `id`.

use std::io::Read;

use crate::api::client::Client;
use crate::api::federation::{IMPORT_MAX_ITEMS, ImportRequest, ImportResult};
use crate::cli::{DataCommand, DataImportArgs};
use crate::error::{Error, Result};
use crate::output::{self, OutputFormat, Render};

/// The largest rows file read; the gateway takes at most 64 KiB per request anyway.
const MAX_ROWS_BYTES: u64 = 8 * 1024 * 1024;

pub async fn run(client: &Client, format: OutputFormat, cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Import(args) => output::emit(format, &import(client, &args).await?),
    }
}

pub async fn import(client: &Client, args: &DataImportArgs) -> Result<ImportResult> {
    let items = read_rows(args)?;
    client.require_admin_token()?;
    client
        .import_rows(
            &args.resource,
            &ImportRequest {
                user_id: args.user.clone(),
                items,
            },
        )
        .await
}

/// The file (or standard input) as a JSON array of objects; the error names the file and
/// the element.
fn read_rows(args: &DataImportArgs) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let from_stdin = args.file.as_os_str() == "-";
    let name = if from_stdin {
        "standard input".to_string()
    } else {
        args.file.display().to_string()
    };
    let bad = |msg: String| Error::invalid_input(format!("rows file {name}: {msg}"));
    let mut bytes = Vec::new();
    if from_stdin {
        std::io::stdin()
            .lock()
            .take(MAX_ROWS_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(&args.file)
            .and_then(|f| f.take(MAX_ROWS_BYTES + 1).read_to_end(&mut bytes))
    }
    .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > MAX_ROWS_BYTES {
        return Err(bad("larger than 8 MiB".into()));
    }
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "invalid JSON at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    let serde_json::Value::Array(items) = doc else {
        return Err(bad("expected a JSON array of row objects".into()));
    };
    if items.len() > IMPORT_MAX_ITEMS {
        return Err(bad(format!(
            "{} rows; at most {IMPORT_MAX_ITEMS} per import: split the file",
            items.len()
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::Object(row) => Ok(row),
            _ => Err(bad(format!("[{i}] is not a JSON object"))),
        })
        .collect()
}

impl Render for ImportResult {
    fn table(&self) -> String {
        format!(
            "imported {} {} of {} for user {}\n",
            self.imported,
            if self.imported == 1 { "row" } else { "rows" },
            self.resource.as_str(),
            self.user_id
        )
    }
}
