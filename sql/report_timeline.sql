-- The triage report's timeline: every event of each reported service instance in the window,
-- from the four tables, at most $max_events per instance and kind (the earliest), with the
-- full count per kind.
--
-- Reads ReportInstances (Instance, and the 7 keys of each reported instance) and the Kusto
-- views. An event belongs to an instance when its initiating process is the instance: the same
-- 7 keys (nulls match nulls: an instance with no process id is the events with none).
--
-- Parameters: $since        the window's exclusive lower bound, as in the rule
--             $services     the instances' service names (lets each scan skip other rows)
--             $max_events   events kept per instance and kind
WITH events AS (
    SELECT 'process' AS Kind, TimeGenerated AS Time, FileName AS What, '' AS Action,
           ProcessCommandLine AS Detail,
           DeviceName, InitiatingProcessFileName, InitiatingProcessCommandLine,
           InitiatingProcessCreationTime, InitiatingProcessId, InitiatingProcessAccountName,
           InitiatingProcessSHA1
    FROM DeviceProcessEvents
    WHERE in_exact(InitiatingProcessFileName, $services) AND TimeGenerated > $since
    UNION ALL
    SELECT 'network', TimeGenerated, RemoteIP, ActionType, RemoteUrl,
           DeviceName, InitiatingProcessFileName, InitiatingProcessCommandLine,
           InitiatingProcessCreationTime, InitiatingProcessId, InitiatingProcessAccountName,
           InitiatingProcessSHA1
    FROM DeviceNetworkEvents
    WHERE in_exact(InitiatingProcessFileName, $services) AND TimeGenerated > $since
    UNION ALL
    SELECT 'file', TimeGenerated, CASE WHEN FolderPath = '' THEN FileName ELSE FolderPath END,
           ActionType, SHA1,
           DeviceName, InitiatingProcessFileName, InitiatingProcessCommandLine,
           InitiatingProcessCreationTime, InitiatingProcessId, InitiatingProcessAccountName,
           InitiatingProcessSHA1
    FROM DeviceFileEvents
    WHERE in_exact(InitiatingProcessFileName, $services) AND TimeGenerated > $since
    UNION ALL
    SELECT 'image', TimeGenerated, CASE WHEN FolderPath = '' THEN FileName ELSE FolderPath END,
           '', SHA1,
           DeviceName, InitiatingProcessFileName, InitiatingProcessCommandLine,
           InitiatingProcessCreationTime, InitiatingProcessId, InitiatingProcessAccountName,
           InitiatingProcessSHA1
    FROM DeviceImageLoadEvents
    WHERE in_exact(InitiatingProcessFileName, $services) AND TimeGenerated > $since
),
matched AS (
    SELECT i.Instance, e.Kind, e.Time, e.What, e.Action, e.Detail
    FROM events e
    JOIN ReportInstances i
      ON  (e.DeviceName IS NOT DISTINCT FROM i.DeviceName)
      AND (e.InitiatingProcessFileName IS NOT DISTINCT FROM i.ServiceProcess)
      AND (e.InitiatingProcessCommandLine IS NOT DISTINCT FROM i.ServiceProcessCmdline)
      AND (e.InitiatingProcessCreationTime IS NOT DISTINCT FROM i.ServiceProcessCreationTime)
      AND (e.InitiatingProcessId IS NOT DISTINCT FROM i.ServiceProcessID)
      AND (e.InitiatingProcessAccountName IS NOT DISTINCT FROM i.ServiceProcessUser)
      AND (e.InitiatingProcessSHA1 IS NOT DISTINCT FROM i.ServiceProcessSHA1)
),
ranked AS (
    SELECT Instance, Kind, Time, What, Action, Detail,
           row_number() OVER (PARTITION BY Instance, Kind ORDER BY Time, What, Action, Detail) AS N,
           count(*) OVER (PARTITION BY Instance, Kind) AS Total
    FROM matched
)
SELECT Instance, Kind, Time, What, Action, Detail, Total
FROM ranked
WHERE N <= $max_events
ORDER BY Instance, Time, Kind, What, Action, Detail
