// Checks `logcat -o chrome` with code that is not ours: the Trace Event Format as a JSON
// Schema (trace_event.schema.json, written from the format's document) validated by ajv,
// then the trace engine of Chrome DevTools' Performance panel (@paulirish/trace_engine),
// which must find what the records say:
//  - one process per pid, named; every thread named as its records name it;
//  - every span (an end record) as a complete event on its thread's track, with its name and
//    duration (to the nanosecond, within rounding of microseconds with 3 decimals);
//  - the engine's nesting of those events (it nests by time, per thread) agrees with the
//    spans' parent ids: a span whose parent ran on the same thread is that parent's child;
//  - every record as an instant event at its time.
//
//   node check_chrome.mjs TRACE.json RECORDS.jsonl
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import Ajv from "ajv";
import { analyzeTrace } from "@paulirish/trace_engine/analyze-trace.mjs";

// The trace engine calls Array.prototype.toSorted (Node 20); Debian 12's Node is 18.
if (!Array.prototype.toSorted) {
  Object.defineProperty(Array.prototype, "toSorted", {
    value(compare) { return [...this].sort(compare); },
  });
}

const [tracePath, recordsPath] = process.argv.slice(2);
const here = new URL(".", import.meta.url);
const trace = JSON.parse(readFileSync(tracePath, "utf8"));
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(
  JSON.parse(readFileSync(new URL("trace_event.schema.json", here), "utf8")));
assert.ok(validate(trace), JSON.stringify(validate.errors, null, 1));

const records = readFileSync(recordsPath, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
const { parsedTrace } = await analyzeTrace(tracePath);
const { Renderer, Meta } = parsedTrace.data;

// Processes and thread names.
const pids = new Set(records.map((r) => r.pid));
assert.deepEqual(new Set(Renderer.processes.keys()), pids, "the engine's processes are the records' pids");
for (const r of records) {
  const named = Meta.threadsInProcess.get(r.pid)?.get(r.tid);
  assert.ok(named, `thread ${r.pid}:${r.tid} is named`);
  assert.equal(named.args.name, r.thread, `thread ${r.pid}:${r.tid}'s name`);
}
const processNames = trace.traceEvents.filter((e) => e.ph === "M" && e.name === "process_name");
assert.deepEqual(new Set(processNames.map((e) => e.pid)), pids, "every process is named");

// Times: the events' are microseconds from otherData's origin; the records' ISO 8601.
const origin = BigInt(trace.otherData.origin_unix_nano);
const toUs = (iso) => BigInt(Date.parse(iso)) * 1000n + (BigInt(iso.slice(20, 26)) % 1000n);
// Times: the events' are microseconds from otherData's origin; the records' ISO 8601.
const originUs = origin / 1000n;

// Spans: the end records, and the span names from each span's first record.
const firstOfSpan = new Map();
for (const r of records) if (r.span_id && !firstOfSpan.has(r.span_id)) firstOfSpan.set(r.span_id, r);
const ends = records.filter((r) => r.tag === "span" && r.message.startsWith("span ended after "));
// format.md, *Span records*: "span NAME started", maybe followed by " field=value"s.
const isSpanStart = (r) => r.tag === "span" && typeof r.fields?.span === "string" &&
  (r.message === `span ${r.fields.span} started` || r.message.startsWith(`span ${r.fields.span} started `));
const spanName = (r) => (isSpanStart(r) ? r.fields.span : r.message);
const nodes = new Map(); // span id -> the engine's tree node
for (const [, node] of Renderer.entryToNode) {
  if (node.entry.ph === "X") nodes.set(node.entry.args.span_id, node);
}
assert.equal(nodes.size, ends.length, "a complete event per span");
for (const end of ends) {
  const node = nodes.get(end.span_id);
  assert.ok(node, `span ${end.span_id} is in the engine's tree`);
  const event = node.entry;
  assert.equal(event.pid, end.pid);
  assert.equal(event.tid, end.tid);
  assert.equal(event.name, spanName(firstOfSpan.get(end.span_id)), `span ${end.span_id}'s name`);
  const raw = JSON.stringify(end.fields);
  const durationNs = Number(raw.match(/"duration_ns":(\d+)/)[1]);
  assert.ok(Math.abs(event.dur * 1000 - durationNs) < 1, `span ${end.span_id}: dur ${event.dur} µs, ${durationNs} ns`);
  const endUs = Number(toUs(end.time) - originUs);
  assert.ok(Math.abs(event.ts + event.dur - endUs) <= 1, `span ${end.span_id} ends at its end record`);
  const parent = end.message.match(/\(parent ([0-9a-f]{16})\)/)[1];
  const parentEnd = ends.find((e) => e.span_id === parent);
  if (parentEnd && parentEnd.pid === end.pid && parentEnd.tid === end.tid) {
    assert.equal(node.parent?.entry.args.span_id, parent, `span ${end.span_id} nests in ${parent}`);
  } else {
    assert.equal(node.parent, null, `span ${end.span_id} is at the top of its track`);
  }
}

// Records: an instant event each (span end records are their complete events), at its time.
const instants = trace.traceEvents.filter((e) => e.ph === "i");
assert.equal(instants.length, records.length - ends.length, "an instant event per record");
const plain = records.filter((r) => !ends.includes(r));
for (const [i, e] of instants.entries()) {
  const r = plain[i];
  assert.equal(e.name, r.message);
  assert.equal(e.pid, r.pid);
  assert.equal(e.tid, r.tid);
  assert.ok(Math.abs(e.ts - Number(toUs(r.time) - originUs)) <= 1, `record ${i}'s time`);
}
console.log(`chrome: ${trace.traceEvents.length} events, ${pids.size} processes, ${ends.length} spans: ok`);
