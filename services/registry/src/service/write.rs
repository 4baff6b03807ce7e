//! The writes: register, delete (soft and permanent), config and mode. Each one re-checks its rule
//! against the state it writes over and retries a lost id/version race with fresh numbers.

use super::*;

impl Registry {
    /// Registers a schema under a subject; the same schema again returns the existing version.
    /// Follows Confluent's `KafkaSchemaRegistry.register`.
    pub async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Found> {
        check_type(req)?;
        // Ids are Java ints in Confluent's clients; a bigger imported id would also push every
        // later allocation (max id + 1) out of their range.
        if req.id.is_some_and(|id| id > i64::from(i32::MAX)) {
            return Err(Error::OperationNotPermitted(format!(
                "Schema id must be at most {}",
                i32::MAX
            )));
        }
        let _local = self.store.write_lock.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let (key, value) = {
                let state = self.state();
                let mode = state.effective_mode(Some(subject));
                let req_id = req.id();
                let req_version = req.version();
                check_register_mode(mode, subject, req_id)?;
                let live = state.live_versions(subject);
                let latest = live.last().and_then(|e| state.schema(e.id));
                let mut req_full = SchemaRequest {
                    schema: req.schema.clone(),
                    schema_type: req.schema_type.clone(),
                    references: req.references.clone(),
                    metadata: req.metadata.clone(),
                    rule_set: req.rule_set.clone(),
                    id: req.id,
                    version: req.version,
                };
                // Confluent `maybePopulateFromPrevious` (not in IMPORT): no schema = the latest
                // one again (a new version changing only metadata / rules); no metadata or rule
                // set = the latest version's.
                if mode != Mode::Import {
                    if !req.has_schema() {
                        let prev =
                            latest.ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
                        req_full.schema = Some(prev.parsed.text.clone());
                        req_full.references = Some(prev.references.clone());
                    }
                    inherit_metadata(&mut req_full, latest);
                }
                let raw = req_full
                    .schema
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
                let candidate = resolve(&state, &req_full, &raw, normalize, mode != Mode::Import)?;
                // The same schema already a live version of the subject: that version.
                for entry in state.live_versions(subject) {
                    let same = stored_identity(&state, entry.id, normalize).as_deref()
                        == Some(candidate.identity.as_str());
                    if !same {
                        continue;
                    }
                    // IMPORT again of what was imported: same id and version → the existing one.
                    let version_ok = req_version.is_none_or(|v| v == entry.version);
                    let id_ok = req_id.is_none_or(|id| id == entry.id);
                    if version_ok && id_ok {
                        return found(&state, entry);
                    }
                    if req_version.is_none() && !id_ok {
                        return Err(Error::OperationNotPermitted(format!(
                            "Schema already registered with id {} instead of input id {}",
                            entry.id,
                            req_id.unwrap_or_default()
                        )));
                    }
                }
                if mode != Mode::Import {
                    let level = state.effective_config(subject);
                    let messages =
                        self.check_against(&state, subject, &candidate.parsed, level, None);
                    if !messages.is_empty() {
                        return Err(Error::Incompatible(format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                            messages.join(", ")
                        )));
                    }
                }
                let next = state.next_version(subject);
                let version = match req_version {
                    Some(v) if mode != Mode::Import && v != next => {
                        return Err(Error::InvalidSchema(
                            "Version is not one more than previous version".into(),
                        ))
                    }
                    Some(v) if state.all_versions(subject).iter().any(|e| e.version == v) => {
                        return Err(Error::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists with another schema"
                        )))
                    }
                    Some(v) => v,
                    None => next,
                };
                let id = match req_id.or_else(|| state.id_for_identity(&candidate.identity)) {
                    Some(id) => id,
                    None => state.max_id().checked_add(1).ok_or_else(|| {
                        Error::OperationNotPermitted("schema id space exhausted".into())
                    })?,
                };
                if let Some(existing) = state.schema(id) {
                    if existing.identity != candidate.identity {
                        return Err(Error::OperationNotPermitted(format!(
                            "Overwrite new schema with id {id} in context . is not permitted."
                        )));
                    }
                }
                let key = Key::Schema {
                    subject: subject.to_string(),
                    version,
                    nonce: uuid::Uuid::new_v4().to_string(),
                };
                let value = SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema_type: "AVRO".into(),
                    schema: candidate.parsed.text.clone(),
                    references: candidate.references.clone(),
                    metadata: candidate.metadata.clone(),
                    rule_set: candidate.rule_set.clone(),
                };
                (key, value)
            };
            self.store.write(Record::new(&key, Some(&value))).await?;
            let Key::Schema { nonce, .. } = &key else {
                continue;
            };
            {
                let state = self.state();
                if state.claim(nonce).is_some() {
                    metrics::counter!("lgma_registry_schemas_registered_total").increment(1);
                    if let Some(entry) = state
                        .all_versions(subject)
                        .into_iter()
                        .find(|e| &e.nonce == nonce)
                    {
                        return found(&state, entry);
                    }
                }
            }
            // Lost the race: remove our losing claim so compaction can never revive it, then retry.
            tracing::info!(
                subject,
                id = value.id,
                version = value.version,
                "registration lost an id/version race; retrying"
            );
            metrics::counter!("lgma_registry_registration_retries_total").increment(1);
            self.store.write(Record::tombstone(&key)).await?;
            if req.id().is_some() {
                return Err(Error::OperationNotPermitted(format!(
                    "Schema id {} is already used by a different schema",
                    value.id
                )));
            }
        }
        Err(Error::Store(format!(
            "could not register under {subject} after {MAX_ATTEMPTS} attempts (heavy concurrent registration)"
        )))
    }

    pub async fn delete_version(
        &self,
        subject: &str,
        sel: VersionSel,
        permanent: bool,
    ) -> Result<u32> {
        let _local = self.store.write_lock.lock().await;
        let records = {
            let state = self.state();
            check_writable(state.effective_mode(Some(subject)), subject)?;
            let all = state.all_versions(subject);
            if all.is_empty() {
                return Err(Error::SubjectNotFound(subject.to_string()));
            }
            let entry = match sel {
                VersionSel::Latest => all.last().copied(),
                VersionSel::Number(n) => all.iter().find(|e| e.version == n).copied(),
            }
            .ok_or_else(|| Error::VersionNotFound(format!("{sel:?}")))?;
            // Confluent `deleteSchemaVersion`: refused while another schema references it (a
            // live one; for a permanent delete, any).
            if !state
                .referenced_by(subject, entry.version, permanent)
                .is_empty()
            {
                return Err(Error::ReferenceExists(schema_key(subject, entry.version)));
            }
            let deleted_key = Key::Deleted {
                subject: subject.to_string(),
                version: entry.version,
                nonce: entry.nonce.clone(),
            };
            let records = if permanent {
                if !entry.deleted {
                    return Err(Error::VersionNotSoftDeleted {
                        subject: subject.to_string(),
                        version: entry.version,
                    });
                }
                vec![
                    Record::tombstone(&Key::Schema {
                        subject: subject.to_string(),
                        version: entry.version,
                        nonce: entry.nonce.clone(),
                    }),
                    Record::tombstone(&deleted_key),
                ]
            } else {
                if entry.deleted {
                    return Err(Error::VersionSoftDeleted {
                        subject: subject.to_string(),
                        version: entry.version,
                    });
                }
                vec![Record::new(
                    &deleted_key,
                    Some(&DeletedValue { deleted: true }),
                )]
            };
            (entry.version, records)
        };
        for record in records.1 {
            self.store.write(record).await?;
        }
        Ok(records.0)
    }

    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>> {
        let _local = self.store.write_lock.lock().await;
        let (versions, records) = {
            let state = self.state();
            check_writable(state.effective_mode(Some(subject)), subject)?;
            let all = state.all_versions(subject);
            if all.is_empty() {
                return Err(Error::SubjectNotFound(subject.to_string()));
            }
            let live: Vec<&VersionEntry> = all.iter().copied().filter(|e| !e.deleted).collect();
            // Confluent `deleteSubject`: refused while another subject references one of its versions.
            for e in if permanent { &all } else { &live } {
                let mut users = state.referenced_by_subjects(subject, e.version, permanent);
                users.remove(subject);
                if !users.is_empty() {
                    return Err(Error::ReferenceExists(schema_key(subject, e.version)));
                }
            }
            let mut records = Vec::new();
            let versions: Vec<u32> = if permanent {
                if !live.is_empty() {
                    return Err(Error::SubjectNotSoftDeleted(subject.to_string()));
                }
                for e in &all {
                    records.push(Record::tombstone(&Key::Schema {
                        subject: subject.to_string(),
                        version: e.version,
                        nonce: e.nonce.clone(),
                    }));
                    records.push(Record::tombstone(&Key::Deleted {
                        subject: subject.to_string(),
                        version: e.version,
                        nonce: e.nonce.clone(),
                    }));
                }
                records.push(Record::tombstone(&Key::Config {
                    subject: Some(subject.to_string()),
                }));
                records.push(Record::tombstone(&Key::Mode {
                    subject: Some(subject.to_string()),
                }));
                all.iter().map(|e| e.version).collect()
            } else {
                if live.is_empty() {
                    return Err(Error::SubjectSoftDeleted(subject.to_string()));
                }
                for e in &live {
                    records.push(Record::new(
                        &Key::Deleted {
                            subject: subject.to_string(),
                            version: e.version,
                            nonce: e.nonce.clone(),
                        },
                        Some(&DeletedValue { deleted: true }),
                    ));
                }
                live.iter().map(|e| e.version).collect()
            };
            (versions, records)
        };
        for record in records {
            self.store.write(record).await?;
        }
        Ok(versions)
    }

    /// Sets (Some) or deletes (None) a compatibility level. Like Confluent's
    /// `KafkaSchemaRegistry.updateConfig` / `deleteSubjectConfig`, refused (42205) while the
    /// subject (or, for the global level, the registry) is READONLY or READONLY_OVERRIDE.
    pub async fn set_config(&self, subject: Option<&str>, level: Option<Level>) -> Result<()> {
        match self.state().effective_mode(subject) {
            Mode::ReadOnly | Mode::ReadOnlyOverride => return Err(read_only(subject)),
            _ => {}
        }
        let key = Key::Config {
            subject: subject.map(str::to_string),
        };
        let record = match level {
            Some(l) => Record::new(
                &key,
                Some(&ConfigValue {
                    compatibility_level: l.as_str().into(),
                }),
            ),
            None => Record::tombstone(&key),
        };
        self.store.write(record).await.map(|_| ())
    }

    pub async fn set_mode(&self, subject: Option<&str>, mode: Option<Mode>) -> Result<()> {
        let key = Key::Mode {
            subject: subject.map(str::to_string),
        };
        let record = match mode {
            Some(m) => Record::new(
                &key,
                Some(&ModeValue {
                    mode: m.as_str().into(),
                }),
            ),
            None => Record::tombstone(&key),
        };
        self.store.write(record).await.map(|_| ())
    }
}
