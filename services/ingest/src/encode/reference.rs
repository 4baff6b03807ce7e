//! The generic encoders, kept as the reference the direct ones in [`super::row`] are checked
//! (unit tests) and benchmarked (`--features reference`) against: a row through per-cell JSON with
//! the key written per row, and an apache-avro `Value` per cell. Not in the service.

use super::row::{write_json_cell, write_json_str};
use crate::decode::Scalar;
use crate::transform::layout::{Base, ColType, Column};

/// Appends one JSONEachRow line for `cells` (aligned with `columns`).
pub fn write_json_row(columns: &[Column], cells: &[Scalar], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (col, cell)) in columns.iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&col.name, out);
        out.push(b':');
        write_json_cell(&col.ty, cell, out);
    }
    out.extend_from_slice(b"}\n");
}

/// Converts a cell to the Avro value of the enriched schema.
pub fn avro_cell(ty: &ColType, cell: &Scalar) -> apache_avro::types::Value {
    use apache_avro::types::Value as V;
    if ty.array {
        let item_ty = ColType {
            array: false,
            ..ty.clone()
        };
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
