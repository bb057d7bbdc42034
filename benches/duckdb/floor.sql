-- The floor: only counting, in the four tables, the rows whose parent name contains
-- services.exe. No engine answers the rule faster than it reads that column.
SELECT
    (SELECT count(*) FROM lake_table('DeviceProcessEvents') WHERE contains(lower(InitiatingProcessParentFileName), 'services.exe'))
  + (SELECT count(*) FROM lake_table('DeviceNetworkEvents') WHERE contains(lower(InitiatingProcessParentFileName), 'services.exe'))
  + (SELECT count(*) FROM lake_table('DeviceFileEvents') WHERE contains(lower(InitiatingProcessParentFileName), 'services.exe'))
  + (SELECT count(*) FROM lake_table('DeviceImageLoadEvents') WHERE contains(lower(InitiatingProcessParentFileName), 'services.exe'))
  AS service_rows
