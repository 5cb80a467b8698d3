// Checks `logcat -o chrome` with code that is not ours: the Trace Event Format as a JSON
// Schema (trace_event.schema.json, written from the format's document) validated by ajv,
// then the trace engine of Chrome DevTools' Performance panel (@paulirish/trace_engine),
// which must find what the records say:
//  - one process per pid, named; every thread named as its records name it;
//  - every span (an end record) as a complete event on its thread's track, with its name and
//    duration (to the nanosecond, within rounding of microseconds with 3 decimals);
//  - every span that never ended (its records carry its id, no end record does) as a
//    complete event on the track of its first record, from that record to the last thing
//    known of it there (its own records, the spans inside it): never open to the end of the
//    trace;
//  - the engine's nesting of those events (it nests by time, per thread) agrees with the
//    spans' parent ids: a span whose parent ran on the same thread is that parent's child;
//  - every record as an instant event at its time.
//
//   node check_chrome.mjs TRACE.json RECORDS.jsonl
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import Ajv from "ajv";
import { analyzeTrace } from "@paulirish/trace_engine/analyze-trace.mjs";

// The trace engine calls Array.prototype.toSorted (Node 20) and URL.parse (Node 22);
// Debian 12's Node is 18.
if (!Array.prototype.toSorted) {
  Object.defineProperty(Array.prototype, "toSorted", {
    value(compare) { return [...this].sort(compare); },
  });
}
if (!URL.parse) {
  URL.parse = (url, base) => {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  };
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
const ended = new Set(ends.map((e) => e.span_id));
const unended = [...firstOfSpan.values()].filter((r) => !ended.has(r.span_id));
assert.equal(nodes.size, ends.length + unended.length, "a complete event per span");
const sameTrack = (a, b) => a.pid === b.pid && a.tid === b.tid;
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
  // Its parent's track: where the parent ended, or if it never did, where it started.
  const parentTrack = ends.find((e) => e.span_id === parent) ??
    (ended.has(parent) ? undefined : firstOfSpan.get(parent));
  if (parentTrack && sameTrack(parentTrack, end)) {
    assert.equal(node.parent?.entry.args.span_id, parent, `span ${end.span_id} nests in ${parent}`);
  } else {
    assert.equal(node.parent, null, `span ${end.span_id} is at the top of its track`);
  }
}

// Spans that never ended.
const usOf = (r) => Number(toUs(r.time) - originUs);
for (const first of unended) {
  const node = nodes.get(first.span_id);
  assert.ok(node, `unended span ${first.span_id} is in the engine's tree`);
  const event = node.entry;
  assert.equal(event.args.ended, false, `span ${first.span_id} is marked as not ended`);
  assert.equal(event.name, spanName(first), `span ${first.span_id}'s name`);
  assert.ok(sameTrack(event, first), `span ${first.span_id} is on its first record's track`);
  assert.ok(Math.abs(event.ts - usOf(first)) <= 1, `span ${first.span_id} starts at its first record`);
  const last = event.ts + event.dur;
  const own = records.filter((r) => r.span_id === first.span_id && sameTrack(r, first));
  for (const r of own) {
    assert.ok(usOf(r) >= event.ts - 1 && usOf(r) <= last + 1, `span ${first.span_id} holds its record at ${r.time}`);
  }
  // Inside the span of its trace that was open on its thread when it started, if any (the
  // text tree's rule, logcat.md): the latest to start before it there, unless that one
  // ended before. One that never ended was still open.
  const startUs = (id) => (ended.has(id) ? nodes.get(id).entry.ts : usOf(firstOfSpan.get(id)));
  let enclosing = null;
  for (const [id, other] of firstOfSpan) {
    if (id === first.span_id || other.trace_id !== first.trace_id || !sameTrack(other, first)) continue;
    if (records.indexOf(other) > records.indexOf(first)) continue;
    const otherEnd = ends.find((e) => e.span_id === id);
    if (otherEnd && records.indexOf(otherEnd) < records.indexOf(first)) continue;
    if (!enclosing || startUs(id) >= startUs(enclosing)) enclosing = id;
  }
  if (enclosing) {
    assert.equal(node.parent?.entry.args.span_id, enclosing, `unended span ${first.span_id} nests in ${enclosing}`);
  }
  // Not drawn past what is known: it ends at one of its records or at the end of a span
  // the engine nests in it.
  const children = (node.children ?? []).map((c) => c.entry.ts + c.entry.dur);
  const known = [...own.map(usOf), ...children];
  assert.ok(known.some((t) => Math.abs(t - last) <= 1), `span ${first.span_id} ends at ${last} µs, known: ${known}`);
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
console.log(`chrome: ${trace.traceEvents.length} events, ${pids.size} processes, ${ends.length} spans ` +
  `and ${unended.length} never ended: ok`);
