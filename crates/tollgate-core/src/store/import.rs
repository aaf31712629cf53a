//! `tenant.import`: tenants and their keys from another gateway, as CSV or JSON lines.
//! All or nothing: one bad record names its line and nothing is imported. A dry run checks
//! every line against what is stored, creates nothing, and returns what would be created
//! with every bad line's error, so the operator sees the whole file before committing it.
//! Plaintext keys are hashed on the way in and never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::ctx::Ctx;
use crate::domain::validate;
use crate::store::ledger::{self, EntryKind, Posting};
use crate::store::tenants::{self, TenantCreate};
use crate::store::{Write, keys};

/// How the records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// A header line, then one tenant per line: `slug,name,plan,email,credits,key,key_name,scopes`
    /// (scopes separated by `;`; every column but `name` and `plan` may be empty or absent).
    Csv,
    /// One JSON object per line with the same fields (`scopes` may be an array).
    Jsonl,
}

/// `tenant.import`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TenantImport {
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub format: ImportFormat,
    /// The file's contents (on the command line: `--data "$(cat tenants.csv)"`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1)]
    pub data: String,
    /// Check every line and report what would be created (and each bad line), creating nothing.
    #[cfg_attr(feature = "cli", arg(long))]
    #[serde(default)]
    pub dry_run: bool,
}

/// What an import added (or, in a dry run, would add).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub tenants: i64,
    pub keys: i64,
    /// Credits given as opening balances (as top-ups in the ledger).
    pub credits: i64,
    /// True when nothing was written: the figures and rows are what the import would do.
    pub dry_run: bool,
    /// The first 1000 tenants, in file order (the counts above cover all).
    pub rows: Vec<ImportedTenant>,
    /// Lines that cannot be imported (a dry run only: a real import stops at the first).
    pub bad_lines: i64,
    /// The first 1000 of those lines, with why.
    pub errors: Vec<ImportLineError>,
}

/// How many tenants and bad lines a report lists: a preview of a file of 100,000 lines
/// shows its start and its counts, not megabytes of rows.
pub const SHOWN_LINES: usize = 1000;

/// One tenant an import creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportedTenant {
    /// The file's line (the CSV header is line 1).
    pub line: i64,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub contact_email: Option<String>,
    /// Opening balance on top of the plan's first-period grant.
    pub credits: i64,
    /// The imported key's name, when the line carries a key.
    pub key_name: Option<String>,
}

/// Why one line cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportLineError {
    pub line: i64,
    /// The record's field at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl ImportReport {
    /// Counts a bad line, listing it among the first [`SHOWN_LINES`].
    pub(crate) fn refuse(&mut self, error: ImportLineError) {
        self.bad_lines += 1;
        if self.errors.len() < SHOWN_LINES {
            self.errors.push(error);
        }
    }
}

impl ImportLineError {
    pub(crate) fn of(line: usize, e: &ConsoleError) -> Self {
        let (field, message) = match e {
            ConsoleError::Invalid { field, message } => (Some(field.clone()), message.clone()),
            other => (None, other.to_string()),
        };
        Self { line: line as i64, field, message }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Scopes {
    List(Vec<String>),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    #[serde(default)]
    pub(crate) slug: Option<String>,
    pub(crate) name: String,
    pub(crate) plan: String,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) credits: Option<i64>,
    #[serde(default)]
    pub(crate) key: Option<String>,
    #[serde(default)]
    pub(crate) key_name: Option<String>,
    #[serde(default)]
    pub(crate) scopes: Option<Scopes>,
}

fn empty_to_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A record by its line, or why its line does not parse.
type Line = (usize, Result<Record, String>);

/// Parses every record, numbering them by line (the CSV header is line 1); a line that
/// does not parse is kept as its error so a dry run can report them all.
pub(crate) fn parse(format: ImportFormat, data: &str) -> Result<Vec<Line>, ConsoleError> {
    let mut out = Vec::new();
    match format {
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(data.as_bytes());
            for (i, row) in reader.deserialize::<Record>().enumerate() {
                out.push((i + 2, row.map_err(|e| e.to_string())));
            }
        }
        ImportFormat::Jsonl => {
            for (i, text) in data.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                out.push((i + 1, serde_json::from_str(text).map_err(|e| e.to_string())));
            }
        }
    }
    if out.is_empty() {
        return Err(ConsoleError::invalid("data", "no records to import"));
    }
    Ok(out)
}

/// Prefixes every error with the record's line.
pub(crate) fn at_line(line: usize) -> impl Fn(ConsoleError) -> ConsoleError {
    move |e| match e {
        ConsoleError::Invalid { field, message } => ConsoleError::invalid(format!("line {line}: {field}"), message),
        e @ (ConsoleError::Store(_) | ConsoleError::StorageUnavailable(_)) => e,
        other => ConsoleError::invalid(format!("line {line}"), other.to_string()),
    }
}

/// `sk_live_…3fa9c21b07d4`: at most a quarter of the key (never enough to use it) and the
/// start of its hash, which tells imported keys apart without revealing anything. 48 bits of
/// hash: with 8 hex digits (32 bits) two of 100,000 keys that share their head clash more
/// often than not (the prefix is unique); with 12, about once in 50,000 such imports.
fn visible_prefix(key: &str) -> String {
    let head: String = key.chars().take((key.chars().count() / 4).min(8)).collect();
    format!("{head}…{}", &keys::hash_secret(key)[..12])
}

pub(crate) async fn import_one(
    tx: &mut Write,
    ctx: &Ctx,
    record: Record,
    line: usize,
    report: &mut ImportReport,
) -> Result<String, ConsoleError> {
    let key_name =
        empty_to_none(record.key.clone()).map(|_| record.key_name.clone().unwrap_or_else(|| "imported".into()));
    let input = TenantCreate {
        name: record.name,
        slug: empty_to_none(record.slug),
        plan: record.plan,
        contact_email: empty_to_none(record.email),
        ..Default::default()
    };
    let tenant = tenants::create(tx, ctx, &input).await?;
    let mut credits_given = 0;
    if let Some(credits) = record.credits.filter(|c| *c != 0) {
        let amount = validate::positive_credits("credits", credits)?;
        let key = format!("import:{}", tenant.slug);
        let posting = Posting {
            tenant_id: tenant.id,
            kind: EntryKind::Topup,
            amount,
            reason: Some("opening balance imported"),
            request_id: None,
            idempotency_key: Some(&key),
            paid: None,
        };
        // The tenant is new (created above): it reaches memory with its balance on commit.
        ledger::post(tx, None, &ctx.actor, ctx.now, posting).await?;
        credits_given = amount;
    }
    if let Some(secret) = empty_to_none(record.key) {
        if secret.len() < 16 || secret.chars().any(char::is_whitespace) {
            return Err(ConsoleError::invalid("key", "must be at least 16 characters without spaces"));
        }
        let scopes = match record.scopes {
            Some(Scopes::List(list)) => list,
            Some(Scopes::Text(text)) => {
                text.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
            }
            None => Vec::new(),
        };
        let scopes = validate::tokens("scopes", &scopes)?;
        let name = validate::name("key_name", record.key_name.as_deref().unwrap_or("imported"))?;
        keys::store(tx, ctx, tenant.id, &name, &scopes, None, &secret, &visible_prefix(&secret)).await?;
    }
    report.tenants += 1;
    report.keys += i64::from(key_name.is_some());
    report.credits += credits_given;
    if report.rows.len() < SHOWN_LINES {
        report.rows.push(ImportedTenant {
            line: line as i64,
            slug: tenant.slug.clone(),
            name: tenant.name,
            plan: input.plan,
            contact_email: tenant.contact_email,
            credits: credits_given,
            key_name,
        });
    }
    Ok(tenant.slug)
}
