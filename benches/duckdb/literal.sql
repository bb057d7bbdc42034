-- Rare Process as a Service, the literal translation: the KQL's join structure with full
-- multiplicity, then distinct sets. GetServices is a plain CTE (DuckDB may inline it).
WITH
GetServices AS (
    SELECT coalesce(DeviceName, '') AS DeviceName,
           coalesce(FileName, '') AS StartedChildProcess,
           coalesce(ProcessCommandLine, '') AS StartedChildProcessCmdline,
           coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessId AS ServiceProcessID,
           InitiatingProcessCreationTime AS ServiceProcessCreationTime,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser
    FROM lake_table('DeviceProcessEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND lower(coalesce(InitiatingProcessFileName, '')) NOT IN
          ('svchost.exe', 'mssense.exe', 'msmpeng.exe', 'searchindexer.exe', 'microsoftedgeupdate.exe')
),
net AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessId AS ServiceProcessID, InitiatingProcessCreationTime AS ServiceProcessCreationTime,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(RemoteIP, '') AS RemoteIP, coalesce(RemoteUrl, '') AS RemoteUrl
    FROM lake_table('DeviceNetworkEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND lower(coalesce(InitiatingProcessFileName, '')) NOT IN
          ('svchost.exe', 'mssense.exe', 'msmpeng.exe', 'searchindexer.exe', 'microsoftedgeupdate.exe')
),
fil AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessId AS ServiceProcessID, InitiatingProcessCreationTime AS ServiceProcessCreationTime,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(FileName, '') AS ModifiedFile, coalesce(SHA1, '') AS ModifiedFileSHA1,
           coalesce(FolderPath, '') AS ModifiedFilePath
    FROM lake_table('DeviceFileEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND lower(coalesce(InitiatingProcessFileName, '')) NOT IN
          ('svchost.exe', 'mssense.exe', 'msmpeng.exe', 'searchindexer.exe', 'microsoftedgeupdate.exe')
),
img AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(InitiatingProcessSHA1, '') AS ServiceProcessSHA1,
           coalesce(InitiatingProcessFileName, '') AS ServiceProcess,
           coalesce(InitiatingProcessCommandLine, '') AS ServiceProcessCmdline,
           InitiatingProcessId AS ServiceProcessID, InitiatingProcessCreationTime AS ServiceProcessCreationTime,
           coalesce(InitiatingProcessAccountName, '') AS ServiceProcessUser,
           coalesce(FileName, '') AS LoadedDLL, coalesce(SHA1, '') AS LoadedDLLSHA1
    FROM lake_table('DeviceImageLoadEvents')
    WHERE TimeGenerated > getvariable('since')
      AND contains(lower(InitiatingProcessParentFileName), 'services.exe')
      AND lower(coalesce(InitiatingProcessFileName, '')) NOT IN
          ('svchost.exe', 'mssense.exe', 'msmpeng.exe', 'searchindexer.exe', 'microsoftedgeupdate.exe')
),
counted AS (
    SELECT ServiceProcess, DeviceName, count(*) AS count_ FROM GetServices GROUP BY ALL
),
launches AS (
    SELECT g.* FROM counted c JOIN GetServices g USING (ServiceProcess, DeviceName) WHERE c.count_ < 6
)
SELECT l.DeviceName, l.ServiceProcess, l.ServiceProcessCmdline, l.ServiceProcessCreationTime,
       l.ServiceProcessID, l.ServiceProcessUser, l.ServiceProcessSHA1,
       list(DISTINCT coalesce(n.RemoteIP, '')) AS ConnectedAddresses,
       list(DISTINCT coalesce(n.RemoteUrl, '')) AS ConnectedUrls,
       list(DISTINCT coalesce(f.ModifiedFile, '')) AS FilesModified,
       list(DISTINCT coalesce(f.ModifiedFilePath, '')) AS FileModFolderPath,
       list(DISTINCT coalesce(f.ModifiedFileSHA1, '')) AS FileModHA1s,
       list(DISTINCT l.StartedChildProcess) AS ChildProcesses,
       list(DISTINCT l.StartedChildProcessCmdline) AS ChildCommandlines,
       list(DISTINCT coalesce(m.LoadedDLL, '')) AS DLLsLoaded,
       list(DISTINCT coalesce(m.LoadedDLLSHA1, '')) AS DLLSHA1,
       split_part(l.DeviceName, '.', 1) AS HostName,
       CASE WHEN strpos(l.DeviceName, '.') > 0 THEN substr(l.DeviceName, strpos(l.DeviceName, '.') + 1) ELSE '' END AS DnsDomain
FROM launches l
LEFT JOIN net n USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
LEFT JOIN fil f USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
LEFT JOIN img m USING (DeviceName, ServiceProcess, ServiceProcessCmdline, ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1)
GROUP BY ALL
