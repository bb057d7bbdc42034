-- Rare Process as a Service, the best hand-written DuckDB SQL we know: GetServices
-- materialized once, the right sides filtered to the rare keys first, sets per key, then 1:1
-- left joins. Kusto semantics: null strings are '' (coalesce), ASCII data makes lower() safe.
WITH
gs AS MATERIALIZED (
    SELECT coalesce(DeviceName, '') AS DeviceName,
           coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessCreationTime AS ServiceProcessCreationTime,
           InitiatingProcessId AS ServiceProcessID,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           coalesce(FileName, '') AS StartedChildProcess,
           coalesce(ProcessCommandLine, '') AS StartedChildProcessCmdline
    FROM lake_table('DeviceProcessEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND lower(coalesce(InitiatingProcessFileName, '')) NOT IN
          ('svchost.exe', 'mssense.exe', 'msmpeng.exe', 'searchindexer.exe', 'microsoftedgeupdate.exe')
),
rare AS (
    SELECT ServiceProcess, DeviceName FROM gs GROUP BY ALL HAVING count(*) < 6
),
inst AS (
    SELECT DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime,
           ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1,
           list(DISTINCT StartedChildProcess) AS ChildProcesses,
           list(DISTINCT StartedChildProcessCmdline) AS ChildCommandlines
    FROM gs SEMI JOIN rare USING (ServiceProcess, DeviceName)
    GROUP BY ALL
),
net AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessCreationTime AS ServiceProcessCreationTime, InitiatingProcessId AS ServiceProcessID,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           list(DISTINCT coalesce(RemoteIP, '')) AS ConnectedAddresses,
           list(DISTINCT coalesce(RemoteUrl, '')) AS ConnectedUrls
    FROM lake_table('DeviceNetworkEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND (coalesce(DeviceName, ''), coalesce(InitiatingProcessFileName, '')) IN (SELECT (DeviceName, ServiceProcess) FROM rare)
    GROUP BY ALL
),
fil AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessCreationTime AS ServiceProcessCreationTime, InitiatingProcessId AS ServiceProcessID,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           list(DISTINCT coalesce(FileName, '')) AS FilesModified,
           list(DISTINCT coalesce(FolderPath, '')) AS FileModFolderPath,
           list(DISTINCT coalesce(SHA1, '')) AS FileModHA1s
    FROM lake_table('DeviceFileEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND (coalesce(DeviceName, ''), coalesce(InitiatingProcessFileName, '')) IN (SELECT (DeviceName, ServiceProcess) FROM rare)
    GROUP BY ALL
),
img AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessCreationTime AS ServiceProcessCreationTime, InitiatingProcessId AS ServiceProcessID,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           list(DISTINCT coalesce(FileName, '')) AS DLLsLoaded,
           list(DISTINCT coalesce(SHA1, '')) AS DLLSHA1
    FROM lake_table('DeviceImageLoadEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND (coalesce(DeviceName, ''), coalesce(InitiatingProcessFileName, '')) IN (SELECT (DeviceName, ServiceProcess) FROM rare)
    GROUP BY ALL
)
SELECT i.DeviceName, i.ServiceProcess, i.ServiceProcessCmdline, i.ServiceProcessCreationTime,
       i.ServiceProcessID, i.ServiceProcessUser, i.ServiceProcessSHA1,
       coalesce(n.ConnectedAddresses, ['']) AS ConnectedAddresses,
       coalesce(n.ConnectedUrls, ['']) AS ConnectedUrls,
       coalesce(f.FilesModified, ['']) AS FilesModified,
       coalesce(f.FileModFolderPath, ['']) AS FileModFolderPath,
       coalesce(f.FileModHA1s, ['']) AS FileModHA1s,
       i.ChildProcesses, i.ChildCommandlines,
       coalesce(m.DLLsLoaded, ['']) AS DLLsLoaded,
       coalesce(m.DLLSHA1, ['']) AS DLLSHA1,
       split_part(i.DeviceName, '.', 1) AS HostName,
       CASE WHEN strpos(i.DeviceName, '.') > 0 THEN substr(i.DeviceName, strpos(i.DeviceName, '.') + 1) ELSE '' END AS DnsDomain
FROM inst i
LEFT JOIN net n USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
LEFT JOIN fil f USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
LEFT JOIN img m USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
