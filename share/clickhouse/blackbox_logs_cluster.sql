-- The tables of a ClickHouse cluster that `logcat ship` inserts into through a Distributed
-- table: `--to 'clickhouse+http://ANY-NODE:8123/?table=blackbox_logs&insert_distributed_sync=1'`.
-- Run on every node (clickhouse-client --multiquery < blackbox_logs_cluster.sql), with the
-- cluster `blackbox` in the servers' <remote_servers> (rename it to yours). docs/shipping.md
-- explains each choice.
--
-- blackbox_logs_local: each shard's rows, the single-node table's engine and key
-- (ReplacingMergeTree by record identity: a row sent twice becomes one when parts merge).
-- blackbox_logs: the Distributed table over them. Its sharding key is the record's identity,
-- so a row sent again (a batch retried after an ambiguous failure) lands on the same shard as
-- its first copy, where the ReplacingMergeTree makes them one. `FINAL` through the
-- Distributed table then counts each record once. The Distributed table leaves out the
-- local tables' MATERIALIZED `date` (it cannot be inserted through one): filter on time_ns.
CREATE TABLE IF NOT EXISTS blackbox_logs_local
(
    time_ns Int64,
    date Date MATERIALIZED toDate(toDateTime(intDiv(time_ns, 1000000000))),
    level String,
    severity UInt8,
    app String,
    host String,
    pid Int32,
    process_start_ns Int64,
    tid UInt32,
    slot UInt32,
    sequence UInt64,
    thread String,
    tag String,
    message String,
    template String,
    trace_id String,
    span_id String,
    file String,
    line UInt32,
    field_names Array(String),
    field_values Array(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(date)
ORDER BY (host, app, pid, process_start_ns, slot, sequence);

CREATE TABLE IF NOT EXISTS blackbox_logs
(
    time_ns Int64,
    level String,
    severity UInt8,
    app String,
    host String,
    pid Int32,
    process_start_ns Int64,
    tid UInt32,
    slot UInt32,
    sequence UInt64,
    thread String,
    tag String,
    message String,
    template String,
    trace_id String,
    span_id String,
    file String,
    line UInt32,
    field_names Array(String),
    field_values Array(String)
)
ENGINE = Distributed(blackbox, currentDatabase(), blackbox_logs_local,
                     cityHash64(host, app, pid, process_start_ns, slot, sequence))
