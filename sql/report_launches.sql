-- The service launches of the window (GetServices' rows) per day, and per reported service and
-- device: the chart of the report's summary and each detection's launch count (the count
-- that made it rare).
--
-- Parameters: $since, $allowlist   as in get_services.sql
--             $services            the reported service names
--             $epoch               1970-01-01 UTC: days are UTC calendar days
SELECT date_bin(INTERVAL '1 day', TimeGenerated, $epoch) AS Day,
       CASE WHEN in_exact(InitiatingProcessFileName, $services)
            THEN InitiatingProcessFileName END AS ServiceProcess,
       CASE WHEN in_exact(InitiatingProcessFileName, $services)
            THEN DeviceName END AS DeviceName,
       count(*) AS Launches
FROM DeviceProcessEvents
WHERE TimeGenerated > $since
  AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
  AND NOT in_ci(InitiatingProcessFileName, $allowlist)
GROUP BY 1, 2, 3
