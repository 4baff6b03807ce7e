//! The generic decoding path, kept as the reference the compiled [`super::resolve::Resolution`] is checked
//! (unit tests) and benchmarked (`--features reference`) against: apache-avro builds a `Value` tree
//! resolved into our reader schema, which is then walked into cells. Not in the service.

use apache_avro::types::Value;
use apache_avro::Schema;

use super::schema::{Plan, ReaderSchema, Scalar};
use super::DecodeFailure;

/// Decodes one Avro body written with `writer` into our reader schema: the generic apache-avro
/// path, kept as the reference the compiled [`Resolution`] is checked and benchmarked against.
pub fn decode_body(
    writer: &Schema,
    reader: &ReaderSchema,
    body: &[u8],
) -> std::result::Result<apache_avro::types::Value, DecodeFailure> {
    use apache_avro::reader::datum::GenericDatumReader;

    let datum_reader = GenericDatumReader::builder(writer)
        .reader_schema(&reader.schema)
        .build()
        .map_err(|e| DecodeFailure::Body(e.to_string()))?;
    let mut cursor = body;
    let value = datum_reader
        .read_value(&mut cursor)
        .map_err(|e| DecodeFailure::Body(e.to_string()))?;
    if !cursor.is_empty() {
        return Err(DecodeFailure::Body(format!(
            "{} trailing bytes after the record",
            cursor.len()
        )));
    }
    Ok(value)
}

impl ReaderSchema {
    /// Splits a decoded (already resolved) envelope into its fields and the payload cells.
    pub fn flatten(
        &self,
        value: &Value,
    ) -> std::result::Result<(Vec<Scalar>, Vec<Scalar>), String> {
        let Value::Record(fields) = value else {
            return Err("decoded value is not a record".into());
        };
        let mut envelope = Vec::with_capacity(8);
        for (_, v) in fields.iter().take(self.payload_pos) {
            envelope.push(scalar(v));
        }
        let mut cells = vec![Scalar::Null; self.leaves.len()];
        if let Some((_, payload)) = fields.get(self.payload_pos) {
            fill(&self.payload_plan, payload, &mut cells)?;
        }
        Ok((envelope, cells))
    }

    /// Whether the decoded envelope carried a payload record (DELETEs may not).
    pub fn has_payload(value: &Value) -> bool {
        match value {
            Value::Record(fields) => {
                matches!(
                    fields.get(8).map(|(_, v)| v),
                    Some(Value::Union(_, inner)) if !matches!(**inner, Value::Null)
                ) || matches!(fields.get(8).map(|(_, v)| v), Some(Value::Record(_)))
            }
            _ => false,
        }
    }
}

/// Converts a primitive decoded value to a cell.
pub fn scalar(value: &Value) -> Scalar {
    match value {
        Value::Null => Scalar::Null,
        Value::Boolean(b) => Scalar::Bool(*b),
        Value::Int(i) | Value::TimeMillis(i) => Scalar::Int(i64::from(*i)),
        Value::Long(i) | Value::TimeMicros(i) => Scalar::Int(*i),
        Value::Float(f) => Scalar::Float(f64::from(*f)),
        Value::Double(f) => Scalar::Float(*f),
        Value::String(s) => Scalar::Str(s.into()),
        Value::Enum(_, s) => Scalar::Str(s.into()),
        Value::Uuid(u) => Scalar::Str(u.to_string().into()),
        Value::Date(d) => Scalar::Date(*d),
        Value::TimestampMillis(t) | Value::LocalTimestampMillis(t) => Scalar::Ts(*t),
        Value::Union(_, inner) => scalar(inner),
        _ => Scalar::Null,
    }
}

fn fill(plan: &Plan, value: &Value, cells: &mut [Scalar]) -> std::result::Result<(), String> {
    match plan {
        Plan::Leaf(i) => {
            cells[*i] = scalar(value);
            Ok(())
        }
        Plan::Skip => Ok(()),
        Plan::Record(plans) => {
            let value = match value {
                Value::Union(_, inner) => inner,
                v => v,
            };
            let Value::Record(fields) = value else {
                return Err("expected a record".into());
            };
            for (plan, (_, v)) in plans.iter().zip(fields) {
                fill(plan, v, cells)?;
            }
            Ok(())
        }
        Plan::Nullable {
            null_index,
            inner,
            leaves,
        } => match value {
            Value::Union(i, _) if i == null_index => {
                for cell in &mut cells[leaves.clone()] {
                    *cell = Scalar::Null;
                }
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Union(_, v) => fill(inner, v, cells),
            v => fill(inner, v, cells),
        },
        Plan::ArrayOfRecords { inner, leaves } => {
            let Value::Array(items) = value else {
                return Err("expected an array".into());
            };
            let mut lists: Vec<Vec<Scalar>> = vec![Vec::with_capacity(items.len()); leaves.len()];
            let mut scratch = vec![Scalar::Null; cells.len()];
            for item in items {
                fill(inner, item, &mut scratch)?;
                for (list, i) in lists.iter_mut().zip(leaves.clone()) {
                    list.push(std::mem::replace(&mut scratch[i], Scalar::Null));
                }
            }
            for (list, i) in lists.into_iter().zip(leaves.clone()) {
                cells[i] = Scalar::List(list);
            }
            Ok(())
        }
    }
}
