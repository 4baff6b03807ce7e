-- Current state, read correctly: the highest entity_version per entity (FINAL on the
-- ReplacingMergeTree(entity_version) tables of 01xx), deleted entities filtered out. Dashboards and
-- the API read these views, never the *_current tables directly, so nobody forgets FINAL.
-- Columns are the pseudonymised ones only (the 01xx tables hold no clear personal data).
CREATE VIEW IF NOT EXISTS lgma.v_planning_application AS
SELECT * FROM lgma.planning_application_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_hl_presentation AS
SELECT * FROM lgma.hl_presentation_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_hl_placement AS
SELECT * FROM lgma.hl_placement_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_hl_exit AS
SELECT * FROM lgma.hl_exit_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_housing_dwelling_unit AS
SELECT * FROM lgma.housing_dwelling_unit_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_housing_need_assessment AS
SELECT * FROM lgma.housing_need_assessment_current FINAL WHERE is_deleted = 0;

CREATE VIEW IF NOT EXISTS lgma.v_waste_return AS
SELECT * FROM lgma.waste_return_current FINAL WHERE is_deleted = 0;
