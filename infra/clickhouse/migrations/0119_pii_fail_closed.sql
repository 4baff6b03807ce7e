-- Personal data fails closed (schemas/README.md, "Personal data"): every schema field now declares
-- `pii`, and three fields stored in clear until now are generalised or dropped:
--   housing dwelling `eircode`          address  -> `eircode_routing_key` (the 3-character routing area)
--   housing dwelling `itm_x`, `itm_y`   location -> `itm_x_1km`, `itm_y_1km` (1 km grid, south-west corner)
--   planning `development_description`  free_text -> not stored
-- New columns first (the column lines below are what `lgma-ingest ddl` generates), then the rows
-- stored before are generalised the same way and their clear values erased (mutations).
ALTER TABLE lgma.housing_dwelling_unit_history ADD COLUMN
    `eircode_routing_key` Nullable(String);
ALTER TABLE lgma.housing_dwelling_unit_history ADD COLUMN
    `itm_x_1km` Nullable(Float64);
ALTER TABLE lgma.housing_dwelling_unit_history ADD COLUMN
    `itm_y_1km` Nullable(Float64);
ALTER TABLE lgma.housing_dwelling_unit_current ADD COLUMN
    `eircode_routing_key` Nullable(String);
ALTER TABLE lgma.housing_dwelling_unit_current ADD COLUMN
    `itm_x_1km` Nullable(Float64);
ALTER TABLE lgma.housing_dwelling_unit_current ADD COLUMN
    `itm_y_1km` Nullable(Float64);

ALTER TABLE lgma.housing_dwelling_unit_history UPDATE
    eircode_routing_key = substring(eircode, 1, 3),
    itm_x_1km = floor(itm_x / 1000) * 1000,
    itm_y_1km = floor(itm_y / 1000) * 1000
WHERE eircode IS NOT NULL OR itm_x IS NOT NULL OR itm_y IS NOT NULL;
ALTER TABLE lgma.housing_dwelling_unit_current UPDATE
    eircode_routing_key = substring(eircode, 1, 3),
    itm_x_1km = floor(itm_x / 1000) * 1000,
    itm_y_1km = floor(itm_y / 1000) * 1000
WHERE eircode IS NOT NULL OR itm_x IS NOT NULL OR itm_y IS NOT NULL;

ALTER TABLE lgma.housing_dwelling_unit_history UPDATE eircode = NULL, itm_x = NULL, itm_y = NULL
WHERE eircode IS NOT NULL OR itm_x IS NOT NULL OR itm_y IS NOT NULL;
ALTER TABLE lgma.housing_dwelling_unit_current UPDATE eircode = NULL, itm_x = NULL, itm_y = NULL
WHERE eircode IS NOT NULL OR itm_x IS NOT NULL OR itm_y IS NOT NULL;
ALTER TABLE lgma.planning_application_history UPDATE development_description = NULL
WHERE development_description IS NOT NULL;
ALTER TABLE lgma.planning_application_current UPDATE development_description = NULL
WHERE development_description IS NOT NULL;
