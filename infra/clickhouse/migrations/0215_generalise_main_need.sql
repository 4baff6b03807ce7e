-- Housing need `main_need` is special-category data (schemas/README.md, "Personal data"): six of
-- its 13 SSHA categories are health or disability grounds, stored beside an applicant pseudonym.
-- Ingest now stores them as one group, DISABILITY_OR_MEDICAL (`pii: generalised` with
-- `generalise_to` in the schema); the rows stored before are generalised the same way.
ALTER TABLE lgma.housing_need_assessment_history UPDATE main_need = 'DISABILITY_OR_MEDICAL'
WHERE main_need IN ('PHYSICAL_DISABILITY', 'SENSORY_DISABILITY', 'MENTAL_HEALTH_DISABILITY',
                    'INTELLECTUAL_DISABILITY', 'OTHER_DISABILITY', 'MEDICAL_GROUNDS');
ALTER TABLE lgma.housing_need_assessment_current UPDATE main_need = 'DISABILITY_OR_MEDICAL'
WHERE main_need IN ('PHYSICAL_DISABILITY', 'SENSORY_DISABILITY', 'MENTAL_HEALTH_DISABILITY',
                    'INTELLECTUAL_DISABILITY', 'OTHER_DISABILITY', 'MEDICAL_GROUNDS');
