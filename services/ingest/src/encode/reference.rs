//! The reference encoders, not in the service: the JSONEachRow entity row the tables were
//! written in before RowBinary (kept so lgma-bench and the criterion benches measure both formats,
//! and the e2e `ingest_row_format` checks both store the same values on the real server), and an
//! apache-avro `Value` per cell, which the direct Avro writer in [`super::row`] is checked against.

use std::fmt::Write as _;

use super::row::{write_int, write_json_str};
use crate::decode::Scalar;
use crate::transform::layout::{Base, ColType, Layout};

/// JSONEachRow rows of one layout, with the keys rendered once (as the service wrote them).
#[derive(Debug, Clone)]
pub struct JsonRows {
    keys: Vec<String>,
}

impl JsonRows {
    pub fn new(layout: &Layout) -> Self {
        let keys = layout
            .columns
            .iter()
            .map(|c| format!("{}:", serde_json::Value::String(c.name.clone())))
            .collect();
        Self { keys }
    }

    /// Appends one JSONEachRow line for `cells` (aligned with the layout's columns).
    pub fn write(&self, layout: &Layout, cells: &[Scalar], out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, ((col, key), cell)) in layout.columns.iter().zip(&self.keys).zip(cells).enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key.as_bytes());
            write_json_cell(&col.ty, cell, out);
        }
        out.extend_from_slice(b"}\n");
    }
}

fn write_json_cell(ty: &ColType, cell: &Scalar, out: &mut Vec<u8>) {
    match cell {
        Scalar::Null if ty.array => out.extend_from_slice(b"[]"),
        Scalar::Null if !ty.nullable => match ty.base {
            Base::String => out.extend_from_slice(b"\"\""),
            Base::Date => out.extend_from_slice(b"\"1970-01-01\""),
            _ => out.push(b'0'),
        },
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        // DateTime cells carry epoch milliseconds; ClickHouse's DateTime takes seconds.
        Scalar::Int(i) | Scalar::Ts(i) if ty.base == Base::DateTime => {
            write_int(i.div_euclid(1000), out);
        }
        Scalar::Int(i) | Scalar::Ts(i) => write_int(*i, out),
        Scalar::Float(f) if f.is_finite() => {
            let _ = write!(DisplayBuf(out), "{f}");
        }
        Scalar::Float(_) => out.extend_from_slice(b"null"),
        Scalar::Str(s) => write_json_str(s, out),
        Scalar::Date(d) => match crate::decode::schema::day_from_epoch_days(i64::from(*d)) {
            Some(day) => write_json_date(day, out),
            None => out.extend_from_slice(b"\"1970-01-01\""),
        },
        Scalar::List(items) => {
            out.push(b'[');
            let item_ty = ty.item();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_cell(&item_ty, item, out);
            }
            out.push(b']');
        }
    }
}

/// A date as the JSON string `"YYYY-MM-DD"`, digit by digit.
fn write_json_date(day: chrono::NaiveDate, out: &mut Vec<u8>) {
    use chrono::Datelike as _;
    let digits = |n: u32, width: usize, out: &mut Vec<u8>| {
        for p in (0..width).rev() {
            out.push(b'0' + (n / 10u32.pow(p as u32) % 10) as u8);
        }
    };
    match u32::try_from(day.year()).ok().filter(|y| *y <= 9999) {
        Some(year) => {
            out.push(b'"');
            digits(year, 4, out);
            out.push(b'-');
            digits(day.month(), 2, out);
            out.push(b'-');
            digits(day.day(), 2, out);
            out.push(b'"');
        }
        // Outside what ClickHouse's Date holds anyway; written as chrono spells it.
        None => {
            let _ = write!(DisplayBuf(out), "\"{}\"", day.format("%Y-%m-%d"));
        }
    }
}

struct DisplayBuf<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for DisplayBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Converts a cell to the Avro value of the enriched schema.
pub fn avro_cell(ty: &ColType, cell: &Scalar) -> apache_avro::types::Value {
    use apache_avro::types::Value as V;
    if ty.array {
        let item_ty = ty.item();
        return match cell {
            Scalar::List(items) => V::Array(items.iter().map(|i| avro_cell(&item_ty, i)).collect()),
            _ => V::Array(Vec::new()),
        };
    }
    let base = match (ty.base, cell) {
        (_, Scalar::Null) => None,
        (Base::UInt8, Scalar::Bool(b)) => Some(V::Boolean(*b)),
        (Base::UInt8, Scalar::Int(i)) => Some(V::Boolean(*i != 0)),
        (Base::UInt32 | Base::Int32, Scalar::Int(i)) => Some(V::Int(*i as i32)),
        (Base::Int64, Scalar::Int(i) | Scalar::Ts(i)) => Some(V::Long(*i)),
        (Base::Float64, Scalar::Float(f)) => Some(V::Double(*f)),
        (Base::Float64, Scalar::Int(i)) => Some(V::Double(*i as f64)),
        (Base::String, Scalar::Str(s)) => Some(V::String(s.to_string())),
        (Base::Date, Scalar::Date(d)) => Some(V::Date(*d)),
        (Base::DateTime, Scalar::Int(i) | Scalar::Ts(i)) => Some(V::TimestampMillis(*i)),
        _ => None,
    };
    match (ty.nullable, base) {
        (true, None) => V::Union(0, Box::new(V::Null)),
        (true, Some(v)) => V::Union(1, Box::new(v)),
        (false, Some(v)) => v,
        (false, None) => match ty.base {
            Base::UInt8 => V::Boolean(false),
            Base::UInt32 | Base::Int32 | Base::Date => V::Int(0),
            Base::Int64 | Base::DateTime => V::Long(0),
            Base::Float64 => V::Double(0.0),
            Base::String => V::String(String::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::layout::Column;

    #[test]
    fn dates_are_spelled_as_chrono_spells_them() {
        for (y, m, d) in [
            (1, 1, 1),
            (999, 12, 31),
            (2024, 2, 29),
            (9999, 12, 31),
            (10000, 1, 1),
        ] {
            let day = chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date");
            let mut out = Vec::new();
            write_json_date(day, &mut out);
            let expected = format!("\"{}\"", day.format("%Y-%m-%d"));
            assert_eq!(String::from_utf8_lossy(&out), expected);
        }
    }

    #[test]
    fn json_cells() {
        let layout = Layout::from_columns(
            "t",
            vec![
                Column::leaf("a", ColType::nullable(Base::Date)),
                Column::leaf("b", ColType::array(Base::String)),
                Column::leaf("c", ColType::plain(Base::String)),
            ],
        );
        let mut out = Vec::new();
        JsonRows::new(&layout).write(
            &layout,
            &[Scalar::Date(1), Scalar::Null, Scalar::Str("x\"y".into())],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\"a\":\"1970-01-02\",\"b\":[],\"c\":\"x\\\"y\"}\n"
        );
    }
}
