-- Rare Process as a Service, keyed plan. Reads GetServices and RareServices (materialized
-- from get_services.sql and rare_services.sql) and the Kusto views of the three other tables.
--
-- The KQL joins every child-process row with every network, file and image-load row of the
-- same service instance, then reduces with make_set. Every aggregate is a distinct set, so the
-- multiplicity of those joins never changes the answer: here each table's sets are built per
-- instance (after keeping only the rare services' rows), and joined one row per instance.
-- sql/literal.sql keeps the KQL's own join structure; the tests check both agree.
--
-- Parameters: $since, $allowlist   as in get_services.sql
--             $keep_empty          keep "" inside sets, as Kusto's make_set does
--             $unmatched           the set a left join without a match gives: [""] (Kusto: the
--                                  unmatched row's strings are "") or [] without $keep_empty
--             $null_keys_match     whether a null ServiceProcessID / ServiceProcessCreationTime
--                                  joins a null (default: no, as SQL and, we believe, Kusto)
--             $rare_services       the distinct ServiceProcess names of RareServices. Implied by
--                                  the EXISTS on RareServices; stated on its own because it
--                                  reads one column, so the Parquet reader can drop all other
--                                  rows before decoding the rest.
--             $rare_devices        the distinct DeviceName values of RareServices: implied by
--                                  the EXISTS as well, and as selective as it on fleets where
--                                  a name rare on one device is common on others (the join's
--                                  own dynamic filter does this in one process, not on workers)
--             $event_times         compute each instance's first and last event time (when
--                                  false the planner folds the CASEs away and no scan outputs
--                                  its time column)
--             $min_pid, $max_pid   the range of the rare instances' process ids (from
--                                  GetServices ⋈ RareServices). Implied by the keyed joins;
--                                  stated because a range on a raw column prunes pages by their
--                                  statistics, in every process: the join's own dynamic filter
--                                  does the same in one process but does not cross to workers.
WITH
-- | join kind=inner GetServices on ServiceProcess, DeviceName: one row per service instance
-- (the 7 keys), with the children it started.
instances AS (
    SELECT
        g.DeviceName, g.ServiceProcess, g.ServiceProcessCmdline, g.ServiceProcessCreationTime,
        g.ServiceProcessID, g.ServiceProcessUser, g.ServiceProcessSHA1,
        make_set(g.StartedChildProcess, 100000)
            FILTER (WHERE $keep_empty OR g.StartedChildProcess <> '') AS ChildProcesses,
        make_set(g.StartedChildProcessCmdline, 100000)
            FILTER (WHERE $keep_empty OR g.StartedChildProcessCmdline <> '') AS ChildCommandlines,
        min(CASE WHEN $event_times THEN g.TimeGenerated END) AS FirstEvent,
        max(CASE WHEN $event_times THEN g.TimeGenerated END) AS LastEvent
    FROM GetServices g
    JOIN RareServices r ON g.ServiceProcess = r.ServiceProcess AND g.DeviceName = r.DeviceName
    GROUP BY
        g.DeviceName, g.ServiceProcess, g.ServiceProcessCmdline, g.ServiceProcessCreationTime,
        g.ServiceProcessID, g.ServiceProcessUser, g.ServiceProcessSHA1
),
-- | join kind=leftouter (DeviceNetworkEvents | where ... | project ...) on the 7 keys
network AS (
    SELECT
        e.DeviceName, e.InitiatingProcessFileName AS ServiceProcess,
        e.InitiatingProcessCommandLine AS ServiceProcessCmdline,
        e.InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        e.InitiatingProcessId AS ServiceProcessID,
        e.InitiatingProcessAccountName AS ServiceProcessUser,
        e.InitiatingProcessSHA1 AS ServiceProcessSHA1,
        make_set(e.RemoteIP, 100000)
            FILTER (WHERE $keep_empty OR e.RemoteIP <> '') AS ConnectedAddresses,
        make_set(e.RemoteUrl, 100000)
            FILTER (WHERE $keep_empty OR e.RemoteUrl <> '') AS ConnectedUrls,
        min(CASE WHEN $event_times THEN e.TimeGenerated END) AS FirstEvent,
        max(CASE WHEN $event_times THEN e.TimeGenerated END) AS LastEvent
    FROM DeviceNetworkEvents e
    WHERE in_exact(e.InitiatingProcessFileName, $rare_services)
      AND in_exact(e.DeviceName, $rare_devices)
      AND (e.InitiatingProcessId BETWEEN $min_pid AND $max_pid
           OR ($null_keys_match AND e.InitiatingProcessId IS NULL))
      AND e.TimeGenerated > $since
      AND contains_ci(e.InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(e.InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (e.InitiatingProcessId IS NOT NULL
                                AND e.InitiatingProcessCreationTime IS NOT NULL))
      AND EXISTS (SELECT 1 FROM RareServices r
                  WHERE r.DeviceName = e.DeviceName
                    AND r.ServiceProcess = e.InitiatingProcessFileName)
    GROUP BY
        e.DeviceName, e.InitiatingProcessFileName, e.InitiatingProcessCommandLine,
        e.InitiatingProcessCreationTime, e.InitiatingProcessId, e.InitiatingProcessAccountName,
        e.InitiatingProcessSHA1
),
-- | join kind=leftouter (DeviceFileEvents | where ... | project ...) on the 7 keys
files AS (
    SELECT
        e.DeviceName, e.InitiatingProcessFileName AS ServiceProcess,
        e.InitiatingProcessCommandLine AS ServiceProcessCmdline,
        e.InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        e.InitiatingProcessId AS ServiceProcessID,
        e.InitiatingProcessAccountName AS ServiceProcessUser,
        e.InitiatingProcessSHA1 AS ServiceProcessSHA1,
        make_set(e.FileName, 100000)
            FILTER (WHERE $keep_empty OR e.FileName <> '') AS FilesModified,
        make_set(e.FolderPath, 100000)
            FILTER (WHERE $keep_empty OR e.FolderPath <> '') AS FileModFolderPath,
        make_set(e.SHA1, 100000)
            FILTER (WHERE $keep_empty OR e.SHA1 <> '') AS FileModHA1s,
        min(CASE WHEN $event_times THEN e.TimeGenerated END) AS FirstEvent,
        max(CASE WHEN $event_times THEN e.TimeGenerated END) AS LastEvent
    FROM DeviceFileEvents e
    WHERE in_exact(e.InitiatingProcessFileName, $rare_services)
      AND in_exact(e.DeviceName, $rare_devices)
      AND (e.InitiatingProcessId BETWEEN $min_pid AND $max_pid
           OR ($null_keys_match AND e.InitiatingProcessId IS NULL))
      AND e.TimeGenerated > $since
      AND contains_ci(e.InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(e.InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (e.InitiatingProcessId IS NOT NULL
                                AND e.InitiatingProcessCreationTime IS NOT NULL))
      AND EXISTS (SELECT 1 FROM RareServices r
                  WHERE r.DeviceName = e.DeviceName
                    AND r.ServiceProcess = e.InitiatingProcessFileName)
    GROUP BY
        e.DeviceName, e.InitiatingProcessFileName, e.InitiatingProcessCommandLine,
        e.InitiatingProcessCreationTime, e.InitiatingProcessId, e.InitiatingProcessAccountName,
        e.InitiatingProcessSHA1
),
-- | join kind=leftouter (DeviceImageLoadEvents | where ... | project ...) on the 7 keys
images AS (
    SELECT
        e.DeviceName, e.InitiatingProcessFileName AS ServiceProcess,
        e.InitiatingProcessCommandLine AS ServiceProcessCmdline,
        e.InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        e.InitiatingProcessId AS ServiceProcessID,
        e.InitiatingProcessAccountName AS ServiceProcessUser,
        e.InitiatingProcessSHA1 AS ServiceProcessSHA1,
        make_set(e.FileName, 100000)
            FILTER (WHERE $keep_empty OR e.FileName <> '') AS DLLsLoaded,
        make_set(e.SHA1, 100000)
            FILTER (WHERE $keep_empty OR e.SHA1 <> '') AS DLLSHA1,
        min(CASE WHEN $event_times THEN e.TimeGenerated END) AS FirstEvent,
        max(CASE WHEN $event_times THEN e.TimeGenerated END) AS LastEvent
    FROM DeviceImageLoadEvents e
    WHERE in_exact(e.InitiatingProcessFileName, $rare_services)
      AND in_exact(e.DeviceName, $rare_devices)
      AND (e.InitiatingProcessId BETWEEN $min_pid AND $max_pid
           OR ($null_keys_match AND e.InitiatingProcessId IS NULL))
      AND e.TimeGenerated > $since
      AND contains_ci(e.InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(e.InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (e.InitiatingProcessId IS NOT NULL
                                AND e.InitiatingProcessCreationTime IS NOT NULL))
      AND EXISTS (SELECT 1 FROM RareServices r
                  WHERE r.DeviceName = e.DeviceName
                    AND r.ServiceProcess = e.InitiatingProcessFileName)
    GROUP BY
        e.DeviceName, e.InitiatingProcessFileName, e.InitiatingProcessCommandLine,
        e.InitiatingProcessCreationTime, e.InitiatingProcessId, e.InitiatingProcessAccountName,
        e.InitiatingProcessSHA1
)
-- | summarize ... by the 7 keys | extend HostName = ..., DnsDomain = ...
SELECT
    i.DeviceName, i.ServiceProcess, i.ServiceProcessCmdline, i.ServiceProcessCreationTime,
    i.ServiceProcessID, i.ServiceProcessUser, i.ServiceProcessSHA1,
    coalesce(n.ConnectedAddresses, $unmatched) AS ConnectedAddresses,
    coalesce(n.ConnectedUrls, $unmatched)      AS ConnectedUrls,
    coalesce(f.FilesModified, $unmatched)      AS FilesModified,
    coalesce(f.FileModFolderPath, $unmatched)  AS FileModFolderPath,
    coalesce(f.FileModHA1s, $unmatched)        AS FileModHA1s,
    i.ChildProcesses,
    i.ChildCommandlines,
    coalesce(m.DLLsLoaded, $unmatched)         AS DLLsLoaded,
    coalesce(m.DLLSHA1, $unmatched)            AS DLLSHA1,
    host_name(i.DeviceName)                    AS HostName,
    dns_domain(i.DeviceName)                   AS DnsDomain,
    -- huntlake's additions after the rule's 18 columns: the first and last TimeGenerated of
    -- the events behind the instance (its launches, connections, file writes, image loads),
    -- the alert's StartTime and EndTime.
    least(i.FirstEvent, n.FirstEvent, f.FirstEvent, m.FirstEvent)   AS FirstEventTime,
    greatest(i.LastEvent, n.LastEvent, f.LastEvent, m.LastEvent)    AS LastEventTime
FROM instances i
LEFT JOIN network n
    ON  (i.DeviceName IS NOT DISTINCT FROM n.DeviceName)
    AND (i.ServiceProcess IS NOT DISTINCT FROM n.ServiceProcess)
    AND (i.ServiceProcessCmdline IS NOT DISTINCT FROM n.ServiceProcessCmdline)
    AND (i.ServiceProcessCreationTime IS NOT DISTINCT FROM n.ServiceProcessCreationTime)
    AND (i.ServiceProcessID IS NOT DISTINCT FROM n.ServiceProcessID)
    AND (i.ServiceProcessUser IS NOT DISTINCT FROM n.ServiceProcessUser)
    AND (i.ServiceProcessSHA1 IS NOT DISTINCT FROM n.ServiceProcessSHA1)
LEFT JOIN files f
    ON  (i.DeviceName IS NOT DISTINCT FROM f.DeviceName)
    AND (i.ServiceProcess IS NOT DISTINCT FROM f.ServiceProcess)
    AND (i.ServiceProcessCmdline IS NOT DISTINCT FROM f.ServiceProcessCmdline)
    AND (i.ServiceProcessCreationTime IS NOT DISTINCT FROM f.ServiceProcessCreationTime)
    AND (i.ServiceProcessID IS NOT DISTINCT FROM f.ServiceProcessID)
    AND (i.ServiceProcessUser IS NOT DISTINCT FROM f.ServiceProcessUser)
    AND (i.ServiceProcessSHA1 IS NOT DISTINCT FROM f.ServiceProcessSHA1)
LEFT JOIN images m
    ON  (i.DeviceName IS NOT DISTINCT FROM m.DeviceName)
    AND (i.ServiceProcess IS NOT DISTINCT FROM m.ServiceProcess)
    AND (i.ServiceProcessCmdline IS NOT DISTINCT FROM m.ServiceProcessCmdline)
    AND (i.ServiceProcessCreationTime IS NOT DISTINCT FROM m.ServiceProcessCreationTime)
    AND (i.ServiceProcessID IS NOT DISTINCT FROM m.ServiceProcessID)
    AND (i.ServiceProcessUser IS NOT DISTINCT FROM m.ServiceProcessUser)
    AND (i.ServiceProcessSHA1 IS NOT DISTINCT FROM m.ServiceProcessSHA1)
ORDER BY
    i.DeviceName, i.ServiceProcess, i.ServiceProcessCmdline, i.ServiceProcessCreationTime,
    i.ServiceProcessID, i.ServiceProcessUser, i.ServiceProcessSHA1
