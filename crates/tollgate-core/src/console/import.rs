//! `tenant.import`: tenants, keys and opening balances from a file, all or nothing.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::store::audit::Change;
use crate::store::import::{ImportLineError, ImportReport, TenantImport, at_line, import_one, parse};
use crate::store::tenants;
use crate::{Console, ConsoleError};

impl Command for TenantImport {
    const NAME: &'static str = "tenant.import";
    const SUMMARY: &'static str = "Import tenants and keys from CSV or JSON lines (all or nothing)";
    type Output = ImportReport;
    /// A whole tenants file: hundreds of thousands of lines.
    const MAX_INPUT_BYTES: usize = 64 << 20;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<ImportReport, ConsoleError> {
        let records = parse(self.format, &self.data)?;
        let mut tx = console.begin().await?;
        let mut report = ImportReport {
            tenants: 0,
            keys: 0,
            credits: 0,
            dry_run: self.dry_run,
            rows: Vec::new(),
            bad_lines: 0,
            errors: Vec::new(),
        };
        let mut slugs = Vec::new();
        for (line, record) in records {
            let result = match record {
                Ok(record) => {
                    // A refused line leaves nothing behind, and the import carries on past it.
                    tx.mark().await?;
                    let result = import_one(&mut tx, ctx, record, line, &mut report).await;
                    match result {
                        Ok(_) => tx.keep_since_mark().await?,
                        Err(_) => tx.back_to_mark().await?,
                    }
                    result
                }
                Err(message) if self.dry_run => {
                    report.refuse(ImportLineError { line: line as i64, field: None, message });
                    continue;
                }
                Err(message) => return Err(ConsoleError::invalid(format!("line {line}"), message)),
            };
            match result {
                Ok(slug) => slugs.push(slug),
                Err(e @ (ConsoleError::Store(_) | ConsoleError::StorageUnavailable(_))) => return Err(e),
                // A dry run goes on to find every bad line; the transaction is never committed.
                Err(e) if self.dry_run => report.refuse(ImportLineError::of(line, &e)),
                Err(e) => return Err(at_line(line)(e)),
            }
        }
        if self.dry_run {
            // Dropping the transaction rolls back everything the checks inserted.
            drop(tx);
            return Ok(report);
        }
        let summary = serde_json::json!({ "tenants": report.tenants, "keys": report.keys, "credits": report.credits });
        let mut change = Change::created(Self::NAME, "tenants".into(), &summary);
        change.also = slugs.iter().map(|s| tenants::target(s)).collect();
        commit(console, tx, ctx, change).await?;
        Ok(report)
    }
}
