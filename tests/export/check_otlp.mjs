// Checks `logcat -o otlp` against the OpenTelemetry protocol, with code that is not ours:
// the OTLP .proto files (as the OpenTelemetry JS exporter ships them), compiled by Debian's
// protoc into a descriptor set, and @bufbuild/protobuf, a protobuf runtime that passes the
// protobuf conformance suite, whose JSON parser is strict (unknown fields, wrong types and
// malformed numbers are errors).
//
//   node check_otlp.mjs DESCRIPTORS.pb OTLP.jsonl RECORDS.jsonl
//
// Each line of OTLP.jsonl must be an ExportLogsServiceRequest in the OTLP/JSON encoding:
//  - it parses as one (field names, types, enum values);
//  - it is exactly the canonical proto3 JSON of what it parsed to: lowerCamelCase names,
//    64-bit integers as decimal strings, enums as integers (OTLP requires integers), no
//    field at its default value;
//  - traceId and spanId are OTLP's one departure from the mapping: lowercase hex (32 and 16
//    digits), not base64. They are checked as such, then given to the parser as base64.
// Then the content against RECORDS.jsonl (logcat -o json of the same input, one record per
// line): the same records in the same order, with the same time, severity, message, ids
// and fields, and each resource names its process (service.name, process.pid, host.name).
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const [descriptorPath, otlpPath, recordsPath] = process.argv.slice(2);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorPath)));
const Request = registry.getMessage("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");
assert.ok(Request, "ExportLogsServiceRequest is in the descriptor set");

const lines = (path) => readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0);

// Visits every log record of a request (parsed JSON).
function* logRecords(request) {
  for (const rl of request.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) {
      for (const lr of sl.logRecords ?? []) yield { resource: rl.resource, scope: sl.scope, lr };
    }
  }
}

// hex <-> base64 for the ids, in place.
function convertIds(request, convert) {
  for (const { lr } of logRecords(request)) {
    if ("traceId" in lr) lr.traceId = convert(lr.traceId);
    if ("spanId" in lr) lr.spanId = convert(lr.spanId);
  }
}
const hexToBase64 = (hex) => Buffer.from(hex, "hex").toString("base64");
const base64ToHex = (b64) => Buffer.from(b64, "base64").toString("hex");

const exported = [];
for (const [n, line] of lines(otlpPath).entries()) {
  const request = JSON.parse(line);
  for (const { lr } of logRecords(request)) {
    if ("traceId" in lr) assert.match(lr.traceId, /^[0-9a-f]{32}$/, `line ${n + 1}: traceId`);
    if ("spanId" in lr) assert.match(lr.spanId, /^[0-9a-f]{16}$/, `line ${n + 1}: spanId`);
  }
  const forParser = structuredClone(request);
  convertIds(forParser, hexToBase64);
  const message = fromJson(Request, forParser); // throws on anything not in the schema
  const canonical = toJson(Request, message, { enumAsInteger: true });
  convertIds(canonical, base64ToHex);
  assert.deepEqual(request, canonical, `line ${n + 1} is not the canonical OTLP/JSON of itself`);
  for (const r of logRecords(request)) exported.push(r);
}

// The content: the same records as logcat -o json.
const records = lines(recordsPath).map((l) => ({ ...JSON.parse(l), raw: l }));
assert.equal(exported.length, records.length, "as many log records as records");
const attribute = (list, key) => (list ?? []).find((a) => a.key === key)?.value;
const pids = new Set();
// Records are grouped by process and scope in a request, so they are matched by what
// identifies them: time (the json line has ISO 8601 to the microsecond), thread, message.
const key = (us, tid, message) => `${us}|${tid}|${message}`;
const byKey = new Map();
for (const r of records) {
  const us = BigInt(Date.parse(r.time)) * 1000n + (BigInt(r.time.slice(20, 26)) % 1000n);
  const k = key(us, r.tid, r.message);
  byKey.set(k, [...(byKey.get(k) ?? []), r]);
}
for (const [i, { resource, scope, lr }] of exported.entries()) {
  const tid = attribute(lr.attributes, "thread.id")?.intValue;
  const candidates = byKey.get(key(BigInt(lr.timeUnixNano) / 1000n, tid, lr.body.stringValue));
  assert.ok(candidates?.length, `log record ${i} (${lr.body.stringValue}) is one of the records`);
  const r = candidates.shift();
  assert.equal(lr.severityNumber, r.severity, `record ${i}: severityNumber`);
  assert.equal(lr.severityText, r.severity_text, `record ${i}: severityText`);
  assert.deepEqual(lr.body, { stringValue: r.message }, `record ${i}: body`);
  assert.equal(scope?.name, r.tag === "" ? undefined : r.tag, `record ${i}: scope is the tag`);
  assert.equal(lr.traceId, r.trace_id, `record ${i}: traceId`);
  assert.equal(lr.spanId, r.span_id, `record ${i}: spanId`);
  for (const [name, value] of Object.entries(r.fields)) {
    const key = /^\d+$/.test(name) ? `arg${name}` : name;
    const v = attribute(lr.attributes, key);
    assert.ok(v, `record ${i}: attribute ${key}`);
    const got = v.intValue ?? v.doubleValue ?? v.boolValue ?? v.stringValue;
    if (typeof value === "number" && !("doubleValue" in v)) {
      // an integer: compared as text, as it may be beyond a double's 53 bits (a u64 beyond
      // int64 is a stringValue: OTLP has no unsigned integers)
      const text = r.raw.slice(r.raw.indexOf(`"fields":{`)).match(new RegExp(`"${name}":(-?\\d+)`))[1];
      assert.equal(v.intValue ?? v.stringValue, text, `record ${i}: ${key}`);
    } else if (typeof value === "number" || typeof value === "boolean") {
      assert.equal(got, value, `record ${i}: ${key}`);
    } else if ("doubleValue" in v) {
      const special = { inf: "Infinity", "-inf": "-Infinity", nan: "NaN" }[value];
      assert.equal(String(got), special, `record ${i}: ${key}`);
    } else {
      assert.equal(String(got), String(value), `record ${i}: ${key}`);
    }
  }
  assert.equal(attribute(lr.attributes, "thread.id")?.intValue, String(r.tid), `record ${i}: thread.id`);
  assert.equal(attribute(resource.attributes, "process.pid")?.intValue, String(r.pid), `record ${i}: process.pid`);
  assert.ok(attribute(resource.attributes, "service.name")?.stringValue, `record ${i}: service.name`);
  assert.ok(attribute(resource.attributes, "host.name")?.stringValue, `record ${i}: host.name`);
  pids.add(r.pid);
}
console.log(`otlp: ${lines(otlpPath).length} requests, ${exported.length} log records, ${pids.size} processes: ok`);
