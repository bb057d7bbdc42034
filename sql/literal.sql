-- Rare Process as a Service, literal plan: the KQL's own join structure, with its full row
-- multiplicity (every child row × every network row × every file row × every image-load row
-- of a service instance). It is the test oracle for detect.sql on small lakes; on real data
-- the multiplied rows make it slow, as the rule's author warns.
--
-- Same parameters as detect.sql. Unmatched left-join rows carry "" in their string columns,
-- as Kusto's do (strings are never null), hence the coalesce(…, '') before each make_set.
WITH
GetServices AS (
    SELECT
        TimeGenerated,
        DeviceName,
        FileName                      AS StartedChildProcess,
        SHA1                          AS StartedChildProcessSHA1,
        ProcessCommandLine            AS StartedChildProcessCmdline,
        InitiatingProcessSHA1         AS ServiceProcessSHA1,
        InitiatingProcessFileName     AS ServiceProcess,
        InitiatingProcessCommandLine  AS ServiceProcessCmdline,
        InitiatingProcessId           AS ServiceProcessID,
        InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        InitiatingProcessAccountName  AS ServiceProcessUser
    FROM DeviceProcessEvents
    WHERE TimeGenerated > $since
      AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(InitiatingProcessFileName, $allowlist)
),
counted AS (
    SELECT ServiceProcess, DeviceName, count(*) AS count_
    FROM GetServices
    GROUP BY ServiceProcess, DeviceName
),
launches AS (
    SELECT g.*
    FROM counted c
    JOIN GetServices g ON c.ServiceProcess = g.ServiceProcess AND c.DeviceName = g.DeviceName
    WHERE c.count_ < $threshold
),
network AS (
    SELECT
        TimeGenerated, DeviceName,
        InitiatingProcessSHA1 AS ServiceProcessSHA1,
        InitiatingProcessFileName AS ServiceProcess,
        InitiatingProcessCommandLine AS ServiceProcessCmdline,
        InitiatingProcessId AS ServiceProcessID,
        InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        InitiatingProcessAccountName AS ServiceProcessUser,
        ActionType AS NetworkAction, RemoteIP, RemoteUrl
    FROM DeviceNetworkEvents
    WHERE TimeGenerated > $since
      AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (InitiatingProcessId IS NOT NULL
                                AND InitiatingProcessCreationTime IS NOT NULL))
),
file_events AS (
    SELECT
        TimeGenerated, DeviceName,
        InitiatingProcessSHA1 AS ServiceProcessSHA1,
        InitiatingProcessFileName AS ServiceProcess,
        InitiatingProcessCommandLine AS ServiceProcessCmdline,
        InitiatingProcessId AS ServiceProcessID,
        InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        InitiatingProcessAccountName AS ServiceProcessUser,
        ActionType AS FileAction, FileName AS ModifiedFile, SHA1 AS ModifiedFileSHA1,
        FolderPath AS ModifiedFilePath
    FROM DeviceFileEvents
    WHERE TimeGenerated > $since
      AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (InitiatingProcessId IS NOT NULL
                                AND InitiatingProcessCreationTime IS NOT NULL))
),
image_loads AS (
    SELECT
        TimeGenerated, DeviceName,
        InitiatingProcessSHA1 AS ServiceProcessSHA1,
        InitiatingProcessFileName AS ServiceProcess,
        InitiatingProcessCommandLine AS ServiceProcessCmdline,
        InitiatingProcessId AS ServiceProcessID,
        InitiatingProcessCreationTime AS ServiceProcessCreationTime,
        InitiatingProcessAccountName AS ServiceProcessUser,
        FileName AS LoadedDLL, SHA1 AS LoadedDLLSHA1, FolderPath AS LoadedDLLPath
    FROM DeviceImageLoadEvents
    WHERE TimeGenerated > $since
      AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
      AND NOT in_ci(InitiatingProcessFileName, $allowlist)
      AND ($null_keys_match OR (InitiatingProcessId IS NOT NULL
                                AND InitiatingProcessCreationTime IS NOT NULL))
),
joined AS (
    SELECT
        l.DeviceName, l.ServiceProcess, l.ServiceProcessCmdline, l.ServiceProcessCreationTime,
        l.ServiceProcessID, l.ServiceProcessUser, l.ServiceProcessSHA1,
        l.StartedChildProcess, l.StartedChildProcessCmdline,
        CASE WHEN $event_times
             THEN least(l.TimeGenerated, n.TimeGenerated, f.TimeGenerated, m.TimeGenerated) END
            AS FirstEvent,
        CASE WHEN $event_times
             THEN greatest(l.TimeGenerated, n.TimeGenerated, f.TimeGenerated, m.TimeGenerated) END
            AS LastEvent,
        coalesce(n.RemoteIP, '')         AS RemoteIP,
        coalesce(n.RemoteUrl, '')        AS RemoteUrl,
        coalesce(f.ModifiedFile, '')     AS ModifiedFile,
        coalesce(f.ModifiedFilePath, '') AS ModifiedFilePath,
        coalesce(f.ModifiedFileSHA1, '') AS ModifiedFileSHA1,
        coalesce(m.LoadedDLL, '')        AS LoadedDLL,
        coalesce(m.LoadedDLLSHA1, '')    AS LoadedDLLSHA1
    FROM launches l
    LEFT JOIN network n
        ON  (l.DeviceName IS NOT DISTINCT FROM n.DeviceName)
        AND (l.ServiceProcess IS NOT DISTINCT FROM n.ServiceProcess)
        AND (l.ServiceProcessCmdline IS NOT DISTINCT FROM n.ServiceProcessCmdline)
        AND (l.ServiceProcessCreationTime IS NOT DISTINCT FROM n.ServiceProcessCreationTime)
        AND (l.ServiceProcessID IS NOT DISTINCT FROM n.ServiceProcessID)
        AND (l.ServiceProcessUser IS NOT DISTINCT FROM n.ServiceProcessUser)
        AND (l.ServiceProcessSHA1 IS NOT DISTINCT FROM n.ServiceProcessSHA1)
    LEFT JOIN file_events f
        ON  (l.DeviceName IS NOT DISTINCT FROM f.DeviceName)
        AND (l.ServiceProcess IS NOT DISTINCT FROM f.ServiceProcess)
        AND (l.ServiceProcessCmdline IS NOT DISTINCT FROM f.ServiceProcessCmdline)
        AND (l.ServiceProcessCreationTime IS NOT DISTINCT FROM f.ServiceProcessCreationTime)
        AND (l.ServiceProcessID IS NOT DISTINCT FROM f.ServiceProcessID)
        AND (l.ServiceProcessUser IS NOT DISTINCT FROM f.ServiceProcessUser)
        AND (l.ServiceProcessSHA1 IS NOT DISTINCT FROM f.ServiceProcessSHA1)
    LEFT JOIN image_loads m
        ON  (l.DeviceName IS NOT DISTINCT FROM m.DeviceName)
        AND (l.ServiceProcess IS NOT DISTINCT FROM m.ServiceProcess)
        AND (l.ServiceProcessCmdline IS NOT DISTINCT FROM m.ServiceProcessCmdline)
        AND (l.ServiceProcessCreationTime IS NOT DISTINCT FROM m.ServiceProcessCreationTime)
        AND (l.ServiceProcessID IS NOT DISTINCT FROM m.ServiceProcessID)
        AND (l.ServiceProcessUser IS NOT DISTINCT FROM m.ServiceProcessUser)
        AND (l.ServiceProcessSHA1 IS NOT DISTINCT FROM m.ServiceProcessSHA1)
)
SELECT
    DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime,
    ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1,
    make_set(RemoteIP, 100000) FILTER (WHERE $keep_empty OR RemoteIP <> '') AS ConnectedAddresses,
    make_set(RemoteUrl, 100000) FILTER (WHERE $keep_empty OR RemoteUrl <> '') AS ConnectedUrls,
    make_set(ModifiedFile, 100000) FILTER (WHERE $keep_empty OR ModifiedFile <> '') AS FilesModified,
    make_set(ModifiedFilePath, 100000) FILTER (WHERE $keep_empty OR ModifiedFilePath <> '') AS FileModFolderPath,
    make_set(ModifiedFileSHA1, 100000) FILTER (WHERE $keep_empty OR ModifiedFileSHA1 <> '') AS FileModHA1s,
    make_set(StartedChildProcess, 100000) FILTER (WHERE $keep_empty OR StartedChildProcess <> '') AS ChildProcesses,
    make_set(StartedChildProcessCmdline, 100000) FILTER (WHERE $keep_empty OR StartedChildProcessCmdline <> '') AS ChildCommandlines,
    make_set(LoadedDLL, 100000) FILTER (WHERE $keep_empty OR LoadedDLL <> '') AS DLLsLoaded,
    make_set(LoadedDLLSHA1, 100000) FILTER (WHERE $keep_empty OR LoadedDLLSHA1 <> '') AS DLLSHA1,
    host_name(DeviceName)  AS HostName,
    dns_domain(DeviceName) AS DnsDomain,
    -- huntlake's additions after the rule's 18 columns: the first and last TimeGenerated of
    -- the events behind the instance.
    min(FirstEvent) AS FirstEventTime,
    max(LastEvent)  AS LastEventTime
FROM joined
GROUP BY
    DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime,
    ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1
ORDER BY
    DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime,
    ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1
