//! JSON Lines exports for the non-planning entities: one JSON object per line,
//! `{"la_code", "entity_version", "occurred_at", "operation"?, "source_system"?, "entity_id"?, "payload"}`,
//! where `payload` uses the schema's field names and enum symbols (null for a DELETE, which then
//! needs `entity_id`). Errors name the line and the JSON path of the bad field.

use lgma_domain::LocalAuthorities;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{check, Mapped, RowError};
use lgma_sim::generator::people;
use lgma_sim::model::*;
use lgma_sim::topics::Topic;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line<P> {
    pub la_code: String,
    pub entity_version: i64,
    pub occurred_at: Millis,
    #[serde(default)]
    pub operation: Option<Operation>,
    #[serde(default)]
    pub source_system: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
    pub payload: Option<P>,
}

fn parse<P: DeserializeOwned>(text: &str) -> Result<Line<P>, (String, String)> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde_json appends "at line 1 column N" (within this one line): say "char N" instead.
        let full = inner.to_string();
        let text = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i]);
        let msg = format!("{text} (char {})", inner.column());
        (
            if path == "." {
                format!("char {}", inner.column())
            } else {
                path
            },
            msg,
        )
    })
}

fn wrap(topic: Topic, text: &str) -> Result<(Line<()>, Option<Entity>), (String, String)> {
    fn go<P: DeserializeOwned>(
        text: &str,
        f: fn(P) -> Entity,
    ) -> Result<(Line<()>, Option<Entity>), (String, String)> {
        let line: Line<P> = parse(text)?;
        let entity = line.payload.map(f);
        Ok((
            Line {
                la_code: line.la_code,
                entity_version: line.entity_version,
                occurred_at: line.occurred_at,
                operation: line.operation,
                source_system: line.source_system,
                entity_id: line.entity_id,
                payload: None,
            },
            entity,
        ))
    }
    match topic {
        Topic::Presentation => go(text, Entity::Presentation),
        Topic::Placement => go(text, Entity::Placement),
        Topic::Exit => go(text, Entity::Exit),
        Topic::DwellingUnit => go(text, Entity::DwellingUnit),
        Topic::NeedAssessment => go(text, Entity::NeedAssessment),
        Topic::PlanningApplication => go(text, Entity::PlanningApplication),
        Topic::WasteReturn => go(text, Entity::WasteReturn),
    }
}

/// Maps a JSON Lines export of `topic` entities to change events.
pub fn map(
    text: &str,
    topic: Topic,
    source_system: &str,
    now_ms: i64,
    rng: &mut impl rand::Rng,
) -> Mapped {
    let councils = LocalAuthorities::embedded().ok();
    let mut mapped = Mapped::default();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        mapped.rows += 1;
        let mut errors = Vec::new();
        let mut err = |column: &str, message: String| {
            errors.push(RowError {
                line: line_no,
                column: column.into(),
                message,
            })
        };
        let (line, entity) = match wrap(topic, raw) {
            Ok(v) => v,
            Err((column, message)) => {
                err(&column, message);
                mapped.errors.append(&mut errors);
                continue;
            }
        };
        if councils
            .as_ref()
            .is_none_or(|c| c.by_code(&line.la_code).is_none())
        {
            err(
                "la_code",
                format!("`{}` is not a known la_code", line.la_code),
            );
        }
        if line.entity_version < 1 {
            err("entity_version", "must be >= 1".into());
        }
        let operation = line.operation.unwrap_or(if line.entity_version == 1 {
            Operation::CREATE
        } else {
            Operation::UPDATE
        });
        let entity_id = match (&entity, &line.entity_id) {
            (Some(e), Some(id)) if id != e.id() => {
                err(
                    "entity_id",
                    format!("`{id}` differs from the payload's id `{}`", e.id()),
                );
                id.clone()
            }
            (Some(e), _) => e.id().to_string(),
            (None, Some(id)) => id.clone(),
            (None, None) => {
                err("entity_id", "required when payload is null".into());
                String::new()
            }
        };
        match (&entity, operation) {
            (None, Operation::CREATE | Operation::UPDATE) => {
                err("payload", "required unless operation is DELETE".into())
            }
            (Some(_), Operation::DELETE) => err("payload", "must be null for a DELETE".into()),
            _ => {}
        }
        if let Some(e) = &entity {
            for (field, message) in check::entity_problems(e) {
                err(&format!("payload.{field}"), message);
            }
        }
        if !errors.is_empty() {
            mapped.errors.append(&mut errors);
            continue;
        }
        let meta = Meta {
            event_id: people::uuid(rng),
            operation,
            entity_id,
            entity_version: line.entity_version,
            la_code: line.la_code,
            source_system: line
                .source_system
                .unwrap_or_else(|| source_system.to_string()),
            occurred_at: line.occurred_at,
            published_at: now_ms.max(line.occurred_at),
        };
        let event = match entity {
            Some(e) => ChangeEvent::new(meta, e),
            None => ChangeEvent::delete(topic, meta),
        };
        mapped.events.push((line_no, event));
    }
    mapped
}

/// One generated event as a JSON Lines row (used to write sample files).
pub fn to_line(event: &ChangeEvent) -> serde_json::Result<String> {
    let meta = event.meta();
    let payload = match event.entity() {
        None => serde_json::Value::Null,
        Some(Entity::Presentation(p)) => serde_json::to_value(p)?,
        Some(Entity::Placement(p)) => serde_json::to_value(p)?,
        Some(Entity::Exit(p)) => serde_json::to_value(p)?,
        Some(Entity::DwellingUnit(p)) => serde_json::to_value(p)?,
        Some(Entity::NeedAssessment(p)) => serde_json::to_value(p)?,
        Some(Entity::PlanningApplication(p)) => serde_json::to_value(p)?,
        Some(Entity::WasteReturn(p)) => serde_json::to_value(p)?,
    };
    let line = Line {
        la_code: meta.la_code,
        entity_version: meta.entity_version,
        occurred_at: meta.occurred_at,
        operation: Some(meta.operation),
        source_system: Some(meta.source_system),
        entity_id: Some(meta.entity_id),
        payload: Some(payload),
    };
    serde_json::to_string(&line)
}
