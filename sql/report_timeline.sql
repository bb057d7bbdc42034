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
    SELECT i.Instance, 'process' AS Kind, e.TimeGenerated AS Time,
           e.FileName AS What, e.ProcessCommandLine AS Detail
    FROM DeviceProcessEvents e
    JOIN ReportInstances i
      ON  (e.DeviceName IS NOT DISTINCT FROM i.DeviceName)
      AND (e.InitiatingProcessFileName IS NOT DISTINCT FROM i.ServiceProcess)
      AND (e.InitiatingProcessCommandLine IS NOT DISTINCT FROM i.ServiceProcessCmdline)
      AND (e.InitiatingProcessCreationTime IS NOT DISTINCT FROM i.ServiceProcessCreationTime)
      AND (e.InitiatingProcessId IS NOT DISTINCT FROM i.ServiceProcessID)
      AND (e.InitiatingProcessAccountName IS NOT DISTINCT FROM i.ServiceProcessUser)
      AND (e.InitiatingProcessSHA1 IS NOT DISTINCT FROM i.ServiceProcessSHA1)
    WHERE in_exact(e.InitiatingProcessFileName, $services) AND e.TimeGenerated > $since
    UNION ALL
    SELECT i.Instance, 'network', e.TimeGenerated,
           e.RemoteIP, concat(e.ActionType, ' ', e.RemoteUrl)
    FROM DeviceNetworkEvents e
    JOIN ReportInstances i
      ON  (e.DeviceName IS NOT DISTINCT FROM i.DeviceName)
      AND (e.InitiatingProcessFileName IS NOT DISTINCT FROM i.ServiceProcess)
      AND (e.InitiatingProcessCommandLine IS NOT DISTINCT FROM i.ServiceProcessCmdline)
      AND (e.InitiatingProcessCreationTime IS NOT DISTINCT FROM i.ServiceProcessCreationTime)
      AND (e.InitiatingProcessId IS NOT DISTINCT FROM i.ServiceProcessID)
      AND (e.InitiatingProcessAccountName IS NOT DISTINCT FROM i.ServiceProcessUser)
      AND (e.InitiatingProcessSHA1 IS NOT DISTINCT FROM i.ServiceProcessSHA1)
    WHERE in_exact(e.InitiatingProcessFileName, $services) AND e.TimeGenerated > $since
    UNION ALL
    SELECT i.Instance, 'file', e.TimeGenerated,
           CASE WHEN e.FolderPath = '' THEN e.FileName ELSE e.FolderPath END,
           concat(e.ActionType, ' ', e.SHA1)
    FROM DeviceFileEvents e
    JOIN ReportInstances i
      ON  (e.DeviceName IS NOT DISTINCT FROM i.DeviceName)
      AND (e.InitiatingProcessFileName IS NOT DISTINCT FROM i.ServiceProcess)
      AND (e.InitiatingProcessCommandLine IS NOT DISTINCT FROM i.ServiceProcessCmdline)
      AND (e.InitiatingProcessCreationTime IS NOT DISTINCT FROM i.ServiceProcessCreationTime)
      AND (e.InitiatingProcessId IS NOT DISTINCT FROM i.ServiceProcessID)
      AND (e.InitiatingProcessAccountName IS NOT DISTINCT FROM i.ServiceProcessUser)
      AND (e.InitiatingProcessSHA1 IS NOT DISTINCT FROM i.ServiceProcessSHA1)
    WHERE in_exact(e.InitiatingProcessFileName, $services) AND e.TimeGenerated > $since
    UNION ALL
    SELECT i.Instance, 'image', e.TimeGenerated,
           CASE WHEN e.FolderPath = '' THEN e.FileName ELSE e.FolderPath END, e.SHA1
    FROM DeviceImageLoadEvents e
    JOIN ReportInstances i
      ON  (e.DeviceName IS NOT DISTINCT FROM i.DeviceName)
      AND (e.InitiatingProcessFileName IS NOT DISTINCT FROM i.ServiceProcess)
      AND (e.InitiatingProcessCommandLine IS NOT DISTINCT FROM i.ServiceProcessCmdline)
      AND (e.InitiatingProcessCreationTime IS NOT DISTINCT FROM i.ServiceProcessCreationTime)
      AND (e.InitiatingProcessId IS NOT DISTINCT FROM i.ServiceProcessID)
      AND (e.InitiatingProcessAccountName IS NOT DISTINCT FROM i.ServiceProcessUser)
      AND (e.InitiatingProcessSHA1 IS NOT DISTINCT FROM i.ServiceProcessSHA1)
    WHERE in_exact(e.InitiatingProcessFileName, $services) AND e.TimeGenerated > $since
),
ranked AS (
    SELECT Instance, Kind, Time, What, Detail,
           row_number() OVER (PARTITION BY Instance, Kind ORDER BY Time, What, Detail) AS N,
           count(*) OVER (PARTITION BY Instance, Kind) AS Total
    FROM events
)
SELECT Instance, Kind, Time, What, Detail, Total
FROM ranked
WHERE N <= $max_events
ORDER BY Instance, Time, Kind, What, Detail
