-- Shared by the DuckDB queries: the four tables of the lake at $lake, read the way huntlake
-- reads them (every *.parquet below each table folder, columns matched by name).
CREATE OR REPLACE MACRO lake_table(t) AS TABLE
    SELECT * FROM read_parquet(getvariable('lake') || '/' || t || '/**/*.parquet', union_by_name = true);
