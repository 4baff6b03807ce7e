//! The entity tables' row format on the real server. lgma-ingest sends RowBinary (positional,
//! untyped); the tables took JSONEachRow before. The same rows of every table, from the offline
//! chain on a simulated stream, go in both ways (the service's own client and encoders; the JSON
//! writer is `encode::reference`) into two scratch databases made from the layouts' DDL, and must
//! read back identical. The column check that guards RowBinary reads the server's own spelling of
//! the types: the stack's migrated tables pass it, an altered column does not.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use lgma_ingest::chain::{offline, TopicPipeline};
use lgma_ingest::config::{ClickHouseSettings, Settings};
use lgma_ingest::encode::reference::JsonRows;
use lgma_ingest::sink::ClickHouse;
use lgma_sim::encode::Encoder;
use lgma_sim::{Generator, GeneratorConfig};
use serde_json::Value;

use lgma_e2e::clickhouse_url;

fn admin(database: &str) -> Result<ClickHouse> {
    Ok(ClickHouse::new(ClickHouseSettings {
        url: clickhouse_url(),
        user: "lgma_admin".into(),
        password: std::env::var("LGMA_CH_ADMIN_PASSWORD").unwrap_or_else(|_| "admin-local".into()),
        database: database.into(),
        ..ClickHouseSettings::default()
    })?)
}

/// Runs each statement of a layout's DDL (comments and blank lines dropped).
async fn create_tables(ch: &ClickHouse, ddl: &str) -> Result<()> {
    let sql: String = ddl
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        ch.execute(statement).await?;
    }
    Ok(())
}

/// Numbers equal within a relative 1e-12 (18.16 parses JSON floats with its fast, not always
/// round-trip, reader); everything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[tokio::test]
async fn row_binary_stores_what_json_stored_and_the_column_check_reads_the_server() -> Result<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let chain = offline::chain(&Settings::in_repo(&repo), 1)?;
    let encoder = Encoder::offline()?;
    let writers = offline::writers(&encoder)?;
    let mut generator = Generator::new(7, GeneratorConfig::default())?;
    let records = offline::raw_records(&encoder, &mut generator, 20_000)?;
    let cells = chain.entity_cells_offline(&records, &writers, 1_764_000_000_123);

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (rb_db, json_db) = (format!("lgma_rb_{suffix}"), format!("lgma_json_{suffix}"));
    let server = admin("default")?;
    for db in [&rb_db, &json_db] {
        server.execute(&format!("CREATE DATABASE {db}")).await?;
    }
    let result = compare(&cells, &rb_db, &json_db).await;
    for db in [&rb_db, &json_db] {
        server
            .execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .await?;
    }
    result
}

async fn compare(
    cells: &[(&TopicPipeline, Vec<lgma_ingest::decode::Scalar>)],
    rb_db: &str,
    json_db: &str,
) -> Result<()> {
    let (rb, json) = (admin(rb_db)?, admin(json_db)?);
    // Per table: its pipeline, its JSON writer, the rows both ways, how many.
    type Rows<'a> = (&'a TopicPipeline, JsonRows, Vec<u8>, Vec<u8>, usize);
    let mut by_table: HashMap<&str, Rows<'_>> = HashMap::new();
    for (tp, row) in cells {
        let entry = by_table
            .entry(tp.table.as_str())
            .or_insert_with(|| (*tp, JsonRows::new(&tp.layout), Vec::new(), Vec::new(), 0));
        tp.layout.write_row_binary(row, &mut entry.2);
        entry.1.write(&tp.layout, row, &mut entry.3);
        entry.4 += 1;
    }
    ensure!(
        by_table.len() == 7,
        "rows of every table: {:?}",
        by_table.keys()
    );
    for (table, (tp, _, binary, lines, rows)) in by_table {
        create_tables(&rb, &tp.layout.ddl(rb_db)).await?;
        create_tables(&json, &tp.layout.ddl(json_db)).await?;
        let history = format!("{table}_history");
        rb.insert_row_binary(
            &format!("{rb_db}.{history}"),
            &tp.layout.insert_columns,
            binary,
        )
        .await
        .with_context(|| format!("RowBinary into {history}"))?;
        json.insert_json(&format!("{json_db}.{history}"), lines)
            .await
            .with_context(|| format!("JSONEachRow into {history}"))?;
        let read = |db: &str| {
            format!("SELECT * FROM {db}.{history} ORDER BY partition, offset, entity_id")
        };
        let got: Vec<Value> = rb.query(&read(rb_db)).await?;
        let want: Vec<Value> = json.query(&read(json_db)).await?;
        ensure!(
            got.len() == rows && want.len() == rows,
            "{table}: {} / {} of {rows} rows",
            got.len(),
            want.len()
        );
        // Not two empty tables: most columns hold values somewhere.
        let filled = tp
            .layout
            .columns
            .iter()
            .filter(|c| got.iter().any(|r| !r[&c.name].is_null()))
            .count();
        ensure!(
            filled * 2 > tp.layout.columns.len(),
            "{table}: only {filled} columns hold a value"
        );
        for (g, w) in got.iter().zip(&want) {
            ensure!(
                same(g, w),
                "{table}: RowBinary stored\n{g}\nJSONEachRow stored\n{w}"
            );
        }

        // The column check: the scratch tables as created pass; an altered column is named.
        let tables = [history.clone(), format!("{table}_current")];
        let found = rb.column_types(&tables).await?;
        for t in &tables {
            let problems = tp.layout.mismatches(t, found.get(t));
            ensure!(problems.is_empty(), "{t}: {problems:?}");
        }
    }

    // The stack's own migrated tables take the rows the layouts write.
    let stack = admin("lgma")?;
    let layouts: HashMap<&str, &TopicPipeline> = cells
        .iter()
        .map(|(tp, _)| (tp.table.as_str(), *tp))
        .collect();
    for tp in layouts.values() {
        let tables = [
            format!("{}_history", tp.table),
            format!("{}_current", tp.table),
        ];
        let found = stack.column_types(&tables).await?;
        for t in &tables {
            let problems = tp.layout.mismatches(t, found.get(t));
            ensure!(problems.is_empty(), "lgma.{t}: {problems:?}");
        }
    }

    // A column of another type than the layout's is named, as the server spells it.
    let (tp, _) = &cells[0];
    let history = format!("{}_history", tp.table);
    rb.execute(&format!(
        "ALTER TABLE {rb_db}.{history} MODIFY COLUMN `schema_id` UInt64"
    ))
    .await?;
    let found = rb.column_types(std::slice::from_ref(&history)).await?;
    let problems = tp.layout.mismatches(&history, found.get(&history));
    ensure!(
        problems
            == [format!(
                "{history}: column `schema_id` is UInt64, the layout writes UInt32"
            )],
        "{problems:?}"
    );
    Ok(())
}
