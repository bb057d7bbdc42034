-- Fleet prevalence of the reported services and hashes: on how many devices each service name
-- ran as a service in the window, on how many devices each SHA-1 ran (as a service or as any
-- process) in the window, and when each was first seen anywhere in the lake.
--
-- Parameters: $since      the window's exclusive lower bound
--             $services   the reported service names (exact, as the rule groups them)
--             $hashes     the reported services' SHA-1s
SELECT 'service' AS Kind, InitiatingProcessFileName AS Value,
       count(DISTINCT CASE WHEN TimeGenerated > $since THEN DeviceName END) AS Devices,
       min(TimeGenerated) AS FirstSeen
FROM DeviceProcessEvents
WHERE in_exact(InitiatingProcessFileName, $services)
  AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
GROUP BY InitiatingProcessFileName
UNION ALL
SELECT 'sha1', Hash,
       count(DISTINCT CASE WHEN TimeGenerated > $since THEN DeviceName END),
       min(TimeGenerated)
FROM (
    SELECT TimeGenerated, DeviceName, InitiatingProcessSHA1 AS Hash
    FROM DeviceProcessEvents
    WHERE in_exact(InitiatingProcessSHA1, $hashes)
    UNION ALL
    SELECT TimeGenerated, DeviceName, SHA1
    FROM DeviceProcessEvents
    WHERE in_exact(SHA1, $hashes)
) ran
GROUP BY Hash
