-- The table `logcat ship --to clickhouse+http://HOST:8123/?table=blackbox_logs` inserts into
-- (INSERT ... FORMAT JSONEachRow). docs/shipping.md explains each choice.
--
-- ReplacingMergeTree keyed by record identity (host, pid, process start, slot, sequence): a
-- batch sent again after an ambiguous failure (a timeout after the server had it), or the
-- batch a restarted shipper sends again, replaces its own rows when parts merge, whatever
-- the batch boundaries were. Exact counts before a merge: SELECT ... FROM blackbox_logs FINAL.
-- Times are Int64 nanoseconds since the Unix epoch (Debian 12's ClickHouse, 18.16, has no
-- DateTime64); `date` is computed from them for partitioning.
CREATE TABLE IF NOT EXISTS blackbox_logs
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
ORDER BY (host, app, pid, process_start_ns, slot, sequence)
