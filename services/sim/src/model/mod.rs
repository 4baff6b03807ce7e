//! Rust mirrors of the schemas: the envelope and one payload struct per entity.
//!
//! Serde field names and enum symbols match the `.avsc` files exactly, so a value goes
//! struct → `apache_avro::to_value` → `resolve(schema)` → bytes without hand-written mapping, and
//! JSON Lines exports deserialise into the same structs.

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};

use crate::topics::Topic;
use crate::{Error, Result};

mod enums;
mod payloads;

pub use enums::*;
pub use payloads::*;

/// The envelope fields every event shares (field order = schema order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P> {
    pub event_id: String,
    pub operation: Operation,
    pub entity_id: String,
    pub entity_version: i64,
    pub la_code: String,
    pub source_system: String,
    pub occurred_at: Millis,
    pub published_at: Millis,
    pub payload: Option<P>,
}

/// The envelope without its payload, for building events and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub event_id: String,
    pub operation: Operation,
    pub entity_id: String,
    pub entity_version: i64,
    pub la_code: String,
    pub source_system: String,
    pub occurred_at: Millis,
    pub published_at: Millis,
}

impl Meta {
    fn wrap<P>(self, payload: Option<P>) -> Envelope<P> {
        Envelope {
            event_id: self.event_id,
            operation: self.operation,
            entity_id: self.entity_id,
            entity_version: self.entity_version,
            la_code: self.la_code,
            source_system: self.source_system,
            occurred_at: self.occurred_at,
            published_at: self.published_at,
            payload,
        }
    }
}

/// One change event on one of the seven topics.
// Variants differ in size (planning is the widest); events are built once and moved into the
// encoder, so boxing would only add an allocation and clumsier matching for library users.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeEvent {
    Presentation(Envelope<Presentation>),
    Placement(Envelope<Placement>),
    Exit(Envelope<Exit>),
    DwellingUnit(Envelope<DwellingUnit>),
    NeedAssessment(Envelope<HousingNeedAssessment>),
    PlanningApplication(Envelope<PlanningApplication>),
    WasteReturn(Envelope<WasteReturn>),
}

/// An entity state, before it is wrapped in an envelope.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Presentation(Presentation),
    Placement(Placement),
    Exit(Exit),
    DwellingUnit(DwellingUnit),
    NeedAssessment(HousingNeedAssessment),
    PlanningApplication(PlanningApplication),
    WasteReturn(WasteReturn),
}

impl Entity {
    pub fn topic(&self) -> Topic {
        match self {
            Entity::Presentation(_) => Topic::Presentation,
            Entity::Placement(_) => Topic::Placement,
            Entity::Exit(_) => Topic::Exit,
            Entity::DwellingUnit(_) => Topic::DwellingUnit,
            Entity::NeedAssessment(_) => Topic::NeedAssessment,
            Entity::PlanningApplication(_) => Topic::PlanningApplication,
            Entity::WasteReturn(_) => Topic::WasteReturn,
        }
    }

    /// The entity's own id field (the envelope's entity_id and the Kafka key).
    pub fn id(&self) -> &str {
        match self {
            Entity::Presentation(p) => &p.presentation_id,
            Entity::Placement(p) => &p.placement_id,
            Entity::Exit(p) => &p.exit_id,
            Entity::DwellingUnit(p) => &p.unit_id,
            Entity::NeedAssessment(p) => &p.assessment_id,
            Entity::PlanningApplication(p) => &p.application_number,
            Entity::WasteReturn(p) => &p.return_id,
        }
    }
}

macro_rules! each_event {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            ChangeEvent::Presentation($e) => $body,
            ChangeEvent::Placement($e) => $body,
            ChangeEvent::Exit($e) => $body,
            ChangeEvent::DwellingUnit($e) => $body,
            ChangeEvent::NeedAssessment($e) => $body,
            ChangeEvent::PlanningApplication($e) => $body,
            ChangeEvent::WasteReturn($e) => $body,
        }
    };
}

impl ChangeEvent {
    /// Wraps an entity state (Some) or a deletion of `topic`'s entity (None is built with [`ChangeEvent::delete`]).
    pub fn new(meta: Meta, entity: Entity) -> Self {
        match entity {
            Entity::Presentation(p) => ChangeEvent::Presentation(meta.wrap(Some(p))),
            Entity::Placement(p) => ChangeEvent::Placement(meta.wrap(Some(p))),
            Entity::Exit(p) => ChangeEvent::Exit(meta.wrap(Some(p))),
            Entity::DwellingUnit(p) => ChangeEvent::DwellingUnit(meta.wrap(Some(p))),
            Entity::NeedAssessment(p) => ChangeEvent::NeedAssessment(meta.wrap(Some(p))),
            Entity::PlanningApplication(p) => ChangeEvent::PlanningApplication(meta.wrap(Some(p))),
            Entity::WasteReturn(p) => ChangeEvent::WasteReturn(meta.wrap(Some(p))),
        }
    }

    /// A DELETE event: no payload.
    pub fn delete(topic: Topic, meta: Meta) -> Self {
        match topic {
            Topic::Presentation => ChangeEvent::Presentation(meta.wrap(None)),
            Topic::Placement => ChangeEvent::Placement(meta.wrap(None)),
            Topic::Exit => ChangeEvent::Exit(meta.wrap(None)),
            Topic::DwellingUnit => ChangeEvent::DwellingUnit(meta.wrap(None)),
            Topic::NeedAssessment => ChangeEvent::NeedAssessment(meta.wrap(None)),
            Topic::PlanningApplication => ChangeEvent::PlanningApplication(meta.wrap(None)),
            Topic::WasteReturn => ChangeEvent::WasteReturn(meta.wrap(None)),
        }
    }

    pub fn topic(&self) -> Topic {
        match self {
            ChangeEvent::Presentation(_) => Topic::Presentation,
            ChangeEvent::Placement(_) => Topic::Placement,
            ChangeEvent::Exit(_) => Topic::Exit,
            ChangeEvent::DwellingUnit(_) => Topic::DwellingUnit,
            ChangeEvent::NeedAssessment(_) => Topic::NeedAssessment,
            ChangeEvent::PlanningApplication(_) => Topic::PlanningApplication,
            ChangeEvent::WasteReturn(_) => Topic::WasteReturn,
        }
    }

    pub fn meta(&self) -> Meta {
        each_event!(self, e => Meta {
            event_id: e.event_id.clone(),
            operation: e.operation,
            entity_id: e.entity_id.clone(),
            entity_version: e.entity_version,
            la_code: e.la_code.clone(),
            source_system: e.source_system.clone(),
            occurred_at: e.occurred_at,
            published_at: e.published_at,
        })
    }

    pub fn entity_id(&self) -> &str {
        each_event!(self, e => &e.entity_id)
    }

    pub fn la_code(&self) -> &str {
        each_event!(self, e => &e.la_code)
    }

    pub fn set_la_code(&mut self, code: &str) {
        each_event!(self, e => e.la_code = code.to_string())
    }

    pub fn entity(&self) -> Option<Entity> {
        match self {
            ChangeEvent::Presentation(e) => e.payload.clone().map(Entity::Presentation),
            ChangeEvent::Placement(e) => e.payload.clone().map(Entity::Placement),
            ChangeEvent::Exit(e) => e.payload.clone().map(Entity::Exit),
            ChangeEvent::DwellingUnit(e) => e.payload.clone().map(Entity::DwellingUnit),
            ChangeEvent::NeedAssessment(e) => e.payload.clone().map(Entity::NeedAssessment),
            ChangeEvent::PlanningApplication(e) => {
                e.payload.clone().map(Entity::PlanningApplication)
            }
            ChangeEvent::WasteReturn(e) => e.payload.clone().map(Entity::WasteReturn),
        }
    }

    /// The generic Avro value, not yet resolved against the schema.
    pub fn to_value(&self) -> Result<Value> {
        let value = each_event!(self, e => apache_avro::to_value(e));
        value.map_err(|e| Error::Encode {
            topic: self.topic().name().into(),
            reason: e.to_string(),
        })
    }

    /// Reads a decoded Avro value back into a typed event.
    pub fn from_value(topic: Topic, value: &Value) -> Result<Self> {
        fn de<P: serde::de::DeserializeOwned>(
            v: &Value,
        ) -> std::result::Result<Envelope<P>, apache_avro::Error> {
            apache_avro::from_value::<Envelope<P>>(v)
        }
        let event = match topic {
            Topic::Presentation => de(value).map(ChangeEvent::Presentation),
            Topic::Placement => de(value).map(ChangeEvent::Placement),
            Topic::Exit => de(value).map(ChangeEvent::Exit),
            Topic::DwellingUnit => de(value).map(ChangeEvent::DwellingUnit),
            Topic::NeedAssessment => de(value).map(ChangeEvent::NeedAssessment),
            Topic::PlanningApplication => de(value).map(ChangeEvent::PlanningApplication),
            Topic::WasteReturn => de(value).map(ChangeEvent::WasteReturn),
        };
        event.map_err(|e| Error::Encode {
            topic: topic.name().into(),
            reason: e.to_string(),
        })
    }

    /// JSON form (used for the `not_framed` malformed kind: what a misconfigured producer sends).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let bytes = each_event!(self, e => serde_json::to_vec(e));
        bytes.map_err(|e| Error::Encode {
            topic: self.topic().name().into(),
            reason: e.to_string(),
        })
    }
}
