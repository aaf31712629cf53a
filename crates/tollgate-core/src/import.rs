//! `tenant.import`: tenants and their keys from another gateway, as CSV or JSON lines.
//! All or nothing: one bad record names its line and nothing is imported. Plaintext
//! keys are hashed on the way in and never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::command::{Command, Ctx};
use crate::ledger::{self, EntryKind, Posting};
use crate::store::Write;
use crate::tenants::{self, TenantCreate};
use crate::{Console, ConsoleError, keys, validate};

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
}

/// What an import added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub tenants: i64,
    pub keys: i64,
    /// Credits given as opening balances (as top-ups in the ledger).
    pub credits: i64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(default)]
    slug: Option<String>,
    name: String,
    plan: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    credits: Option<i64>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_name: Option<String>,
    #[serde(default)]
    scopes: Option<Scopes>,
}

fn empty_to_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses every record, numbering them by line (the CSV header is line 1).
fn parse(format: ImportFormat, data: &str) -> Result<Vec<(usize, Record)>, ConsoleError> {
    let mut out = Vec::new();
    match format {
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(data.as_bytes());
            for (i, row) in reader.deserialize::<Record>().enumerate() {
                let line = i + 2;
                out.push((line, row.map_err(|e| ConsoleError::invalid(format!("line {line}"), e.to_string()))?));
            }
        }
        ImportFormat::Jsonl => {
            for (i, text) in data.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let line = i + 1;
                let record = serde_json::from_str(text)
                    .map_err(|e| ConsoleError::invalid(format!("line {line}"), e.to_string()))?;
                out.push((line, record));
            }
        }
    }
    if out.is_empty() {
        return Err(ConsoleError::invalid("data", "no records to import"));
    }
    Ok(out)
}

/// Prefixes every error with the record's line.
fn at_line(line: usize) -> impl Fn(ConsoleError) -> ConsoleError {
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

async fn import_one(
    tx: &mut Write,
    ctx: &Ctx,
    record: Record,
    report: &mut ImportReport,
) -> Result<String, ConsoleError> {
    let input = TenantCreate {
        name: record.name,
        slug: empty_to_none(record.slug),
        plan: record.plan,
        contact_email: empty_to_none(record.email),
        ..Default::default()
    };
    let tenant = tenants::create(tx, ctx, &input).await?;
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
        report.credits += amount;
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
        report.keys += 1;
    }
    report.tenants += 1;
    Ok(tenant.slug)
}

impl Command for TenantImport {
    const NAME: &'static str = "tenant.import";
    const SUMMARY: &'static str = "Import tenants and keys from CSV or JSON lines (all or nothing)";
    type Output = ImportReport;
    /// A whole tenants file: hundreds of thousands of lines.
    const MAX_INPUT_BYTES: usize = 64 << 20;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<ImportReport, ConsoleError> {
        let records = parse(self.format, &self.data)?;
        let mut tx = console.begin().await?;
        let mut report = ImportReport { tenants: 0, keys: 0, credits: 0 };
        let mut slugs = Vec::new();
        for (line, record) in records {
            slugs.push(import_one(&mut tx, ctx, record, &mut report).await.map_err(at_line(line))?);
        }
        let mut change = Change::created(Self::NAME, "tenants".into(), &report);
        change.also = slugs.iter().map(|s| tenants::target(s)).collect();
        audit::commit(console, tx, ctx, change).await?;
        Ok(report)
    }
}
