-- GetServices: the process events whose initiating process was launched by services.exe,
-- in the lookback window, minus the allowlisted service names.
--
-- KQL:  DeviceProcessEvents
--       | where TimeGenerated > ago(LookupTime)
--       | where InitiatingProcessParentFileName contains "services.exe"
--       | where InitiatingProcessFileName !in~ (WhiteList)
--       | project ...
--
-- huntlake runs this once and materializes it (in memory, or spilled to disk when large); the
-- detection then reads it as the table GetServices. Reads the Kusto view of the table (strings
-- never null, datetimes as 100-ns ticks).
--
-- Parameters: $since     as-of minus the lookback; the window is strict (> $since) and open
--                        at the top, as ago() is
--             $allowlist the allowlisted service names (in~: whole name, ASCII case folded)
--             $event_times  keep TimeGenerated (else null)
--
-- The KQL also projects StartedChildProcessSHA1, which nothing downstream reads; it is left
-- out here to keep the materialized table small. TimeGenerated stays when the run reports
-- each instance's first and last event time ($event_times; the shell's step always does).
SELECT
    CASE WHEN $event_times THEN TimeGenerated END AS TimeGenerated,
    DeviceName,
    InitiatingProcessFileName     AS ServiceProcess,
    InitiatingProcessCommandLine  AS ServiceProcessCmdline,
    InitiatingProcessCreationTime AS ServiceProcessCreationTime,
    InitiatingProcessId           AS ServiceProcessID,
    InitiatingProcessAccountName  AS ServiceProcessUser,
    InitiatingProcessSHA1         AS ServiceProcessSHA1,
    FileName                      AS StartedChildProcess,
    ProcessCommandLine            AS StartedChildProcessCmdline
FROM DeviceProcessEvents
WHERE TimeGenerated > $since
  AND contains_ci(InitiatingProcessParentFileName, 'services.exe')
  AND NOT in_ci(InitiatingProcessFileName, $allowlist)
