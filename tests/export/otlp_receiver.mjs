// An OTLP/HTTP logs receiver for `logcat ship`'s test, with code that is not ours: requests
// are decoded by @bufbuild/protobuf (a runtime that passes the protobuf conformance suite,
// strict in JSON: unknown fields, wrong types and malformed numbers are errors) with the
// OpenTelemetry .proto files (as the OpenTelemetry JS exporter ships them) compiled by
// Debian's protoc into a descriptor set.
//
//   node otlp_receiver.mjs DESCRIPTORS.pb PORT OUT.jsonl [--answer STATUS:N] [--reject N]
//
// POST /v1/logs, Content-Type application/x-protobuf or application/json, Content-Encoding
// gzip, zstd (through Debian's zstd command: Node 20's zlib has none) or none. Each log
// record of an accepted request is appended to OUT.jsonl (synchronously, before the answer)
// as one line: its uid, time, severity, body, attributes, scope and resource. Then 200 with
// an ExportLogsServiceResponse in the request's encoding.
//   --answer STATUS:N  the first N requests are answered STATUS instead (and not kept); a
//                      429 or 503 carries Retry-After: 0
//   --reject N         the first accepted request says N of its records were rejected (a
//                      partial success, still kept here)
//   --count-only 1     decode every request, keep nothing: the last line on stdout at SIGTERM
//                      says how many records and bytes came (for measuring the sender)
// Says "listening" on stdout once it is.
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const [descriptorPath, port, outPath, ...options] = process.argv.slice(2);
let [answerStatus, answerCount] = [200, 0];
let rejectFirst = 0;
let countOnly = false;
let [receivedRecords, receivedBytes] = [0, 0];
for (let i = 0; i < options.length; i += 2) {
  if (options[i] === "--answer") [answerStatus, answerCount] = options[i + 1].split(":").map(Number);
  else if (options[i] === "--reject") rejectFirst = Number(options[i + 1]);
  else if (options[i] === "--count-only") countOnly = options[i + 1] === "1";
  else throw new Error(`unknown option ${options[i]}`);
}
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorPath)));
const Request = registry.getMessage("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");

const hexToBase64 = (hex) => Buffer.from(hex, "hex").toString("base64");
const base64ToHex = (b64) => Buffer.from(b64, "base64").toString("hex");

function decompress(encoding, body) {
  if (encoding === undefined || encoding === "identity") return body;
  if (encoding === "gzip") return gunzipSync(body);
  if (encoding === "zstd") return execFileSync("zstd", ["-dcq"], { input: body, maxBuffer: 1 << 30 });
  throw new Error(`Content-Encoding ${encoding}`);
}

// The request as a message: protobuf as is; JSON with OTLP's hex ids made base64 first (the
// one place OTLP/JSON departs from the protobuf JSON mapping).
function decode(type, body) {
  if (type === "application/x-protobuf") return fromBinary(Request, body);
  if (type === "application/json") {
    const request = JSON.parse(body.toString("utf8"));
    for (const rl of request.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          if (!/^([0-9a-f]{32})?$/.test(lr.traceId ?? "")) throw new Error(`traceId ${lr.traceId}`);
          if (!/^([0-9a-f]{16})?$/.test(lr.spanId ?? "")) throw new Error(`spanId ${lr.spanId}`);
          if ("traceId" in lr) lr.traceId = hexToBase64(lr.traceId);
          if ("spanId" in lr) lr.spanId = hexToBase64(lr.spanId);
        }
      }
    }
    return fromJson(Request, request);
  }
  throw new Error(`Content-Type ${type}`);
}

const attributes = (list) => Object.fromEntries((list ?? []).map((a) => [a.key, a.value]));

let requests = 0;
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    requests += 1;
    if (requests <= answerCount) {
      const headers = answerStatus === 429 || answerStatus === 503 ? { "Retry-After": "0" } : {};
      res.writeHead(answerStatus, headers).end(`answer ${answerStatus} (${requests} of ${answerCount})`);
      return;
    }
    const type = req.headers["content-type"];
    let request;
    try {
      if (req.url !== "/v1/logs") throw new Error(`path ${req.url}`);
      request = decode(type, decompress(req.headers["content-encoding"], Buffer.concat(chunks)));
    } catch (e) {
      res.writeHead(400).end(String(e));
      return;
    }
    receivedBytes += Buffer.concat(chunks).length;
    if (countOnly) {
      for (const rl of request.resourceLogs) for (const sl of rl.scopeLogs) receivedRecords += sl.logRecords.length;
      res.writeHead(200, { "Content-Type": type }).end(type === "application/json" ? "{}" : "");
      return;
    }
    const json = toJson(Request, request, { enumAsInteger: true });
    const lines = [];
    for (const rl of json.resourceLogs ?? []) {
      const resource = attributes(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          const a = attributes(lr.attributes);
          lines.push(JSON.stringify({
            uid: a["log.record.uid"]?.stringValue,
            time: lr.timeUnixNano,
            severity: lr.severityNumber,
            severityText: lr.severityText,
            body: lr.body?.stringValue,
            scope: sl.scope?.name ?? "",
            traceId: lr.traceId === undefined ? "" : base64ToHex(lr.traceId),
            spanId: lr.spanId === undefined ? "" : base64ToHex(lr.spanId),
            attributes: a,
            service: resource["service.name"]?.stringValue,
            pid: resource["process.pid"]?.intValue,
            host: resource["host.name"]?.stringValue,
            encoding: `${type} ${req.headers["content-encoding"] ?? "none"}`,
          }) + "\n");
        }
      }
    }
    appendFileSync(outPath, lines.join(""));
    const rejected = rejectFirst;
    rejectFirst = 0;
    if (type === "application/json") {
      const answer = rejected ? { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage: "test says no" } } : {};
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
    } else {
      // ExportLogsServiceResponse { partial_success = 1 { rejected_log_records = 1; error_message = 2 } }
      // (newer than these .proto files: written by hand)
      const message = Buffer.from("test says no");
      const partial = rejected ? Buffer.concat([Buffer.from([0x08, rejected, 0x12, message.length]), message]) : Buffer.alloc(0);
      const answer = rejected ? Buffer.concat([Buffer.from([0x0a, partial.length]), partial]) : partial;
      res.writeHead(200, { "Content-Type": "application/x-protobuf" }).end(answer);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => {
  console.log(`received ${receivedRecords} records in ${requests} requests, ${receivedBytes} bytes`);
  process.exit(0);
});
