-- The rare services: GetServices | summarize count() by ServiceProcess, DeviceName
--                                | where count_ < 6
--
-- Reads the materialized GetServices. huntlake materializes this step too: the detection reads
-- it four times (once per joined table), and the distinct service names in it are bound to
-- $rare_services, which lets each right-side scan drop every other row while decoding.
--
-- Parameters: $threshold   a service is rare below this many launches on a device
SELECT ServiceProcess, DeviceName, count(*) AS Launches
FROM GetServices
GROUP BY ServiceProcess, DeviceName
HAVING count(*) < $threshold
