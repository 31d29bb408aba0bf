// The StateFun function server of the workerd tests: real functions written with StateFun's
// JavaScript SDK (`apache-flink-statefun`), served over HTTP by examples/functions/server.mjs, with
// faults chosen by the URL path in front of the SDK (each endpoint of a test pipeline picks one):
//   /flaky/<n>/<name>   the first n requests to that path answer 503
//   /status/<code>/<name>  always answers <code>
//   /stall/<ms>/<name>  waits <ms> before the SDK answers
//   /text/<name>        answers 200 with text/plain
//   /empty/<name>       answers 200 application/octet-stream with an empty body (an empty FromFunction)
//   /cut/<name>         answers 200, promises 100 bytes, sends 1 and drops the connection
//   /gate/<gate>/<name> waits while gate <gate> is closed (POST /_gates/<gate>/close, /_gates/<gate>/open)
//   GET /_stats         requests seen per path, as JSON
//   GET /_calls         invocations test/counter ran, per address (`test/counter/<id>`), as JSON
import { StateFun, egressMessageBuilder, kafkaEgressMessage, kinesisEgressMessage, messageBuilder } from "apache-flink-statefun";
import { bindGreeter } from "../../examples/functions/greeter.mjs";
import { startFunctionServer } from "../../examples/functions/server.mjs";

const JSON_OUT = StateFun.jsonType("test/Out");

/** Invocations test/counter ran, per address: what reached the function, beyond requests and handshakes. */
const calls = new Map();

function emit(context, value) {
  context.send(egressMessageBuilder({ typename: "test/out", value, valueType: JSON_OUT }));
}

function bindTestFunctions(statefun) {
  bindGreeter(statefun);
  // Counts its invocations per address: no update may be lost, whatever the batching.
  statefun.bind({
    typename: "test/counter",
    specs: [{ name: "n", type: StateFun.intType() }],
    fn(context, message) {
      const address = `${context.self.typename}/${context.self.id}`;
      calls.set(address, (calls.get(address) ?? 0) + 1);
      const n = (context.storage.n ?? 0) + 1;
      context.storage.n = n;
      emit(context, { n, value: message.asString() });
    },
  });
  // Emits a string as long as its argument says.
  statefun.bind({
    typename: "test/big",
    fn(context, message) {
      emit(context, "x".repeat(message.asInt()));
    },
  });
  // Sends test/echo a message now, another after 300 ms, and a third that it cancels.
  statefun.bind({
    typename: "test/delayer",
    fn(context, message) {
      const to = (value) => messageBuilder({ typename: "test/echo", id: message.asString(), value });
      context.send(to("now"));
      context.sendAfter(300, to("later"));
      context.sendAfter(300, to("cancelled"), "cancel-me");
      context.cancelDelayedMessage("cancel-me");
    },
  });
  // Egresses what it was sent, with who sent it and when.
  statefun.bind({
    typename: "test/echo",
    fn(context, message) {
      emit(context, { echo: message.asString(), caller: context.caller ? `${context.caller.typename}/${context.caller.id}` : null, at: Date.now() });
    },
  });
  // Answers what its argument names: a Kafka or a Kinesis egress record, a delayed message with a
  // negative delay, or two delayed messages with one cancellation token (the SDK lets both through;
  // StateFun refuses them).
  statefun.bind({
    typename: "test/odd",
    fn(context, message) {
      const what = message.asString();
      const value = JSON.stringify({ v: what });
      if (what === "kafka") context.send(kafkaEgressMessage({ typename: "test/out", topic: "t", key: "k", value }));
      if (what === "kinesis") context.send(kinesisEgressMessage({ typename: "test/out", stream: "s", partitionKey: "pk", value }));
      if (what === "negative-delay") context.sendAfter(-5, messageBuilder({ typename: "test/echo", id: "x", value: "late" }));
      if (what === "same-token") {
        context.sendAfter(60_000, messageBuilder({ typename: "test/echo", id: "x", value: "first" }), "tok");
        context.sendAfter(60_000, messageBuilder({ typename: "test/echo", id: "x", value: "second" }), "tok");
      }
    },
  });
  // Remembers for 300 ms after each write.
  statefun.bind({
    typename: "test/expiring",
    specs: [{ name: "seen", type: StateFun.intType(), expireAfterWrite: 300 }],
    fn(context) {
      const seen = (context.storage.seen ?? 0) + 1;
      context.storage.seen = seen;
      emit(context, { seen });
    },
  });
  // Counts in `a`; told "big", also writes `b` over what an address keeps per value (the batch fails).
  statefun.bind({
    typename: "test/two-states",
    specs: [
      { name: "a", type: StateFun.intType() },
      { name: "b", type: StateFun.stringType() },
    ],
    fn(context, message) {
      const a = (context.storage.a ?? 0) + 1;
      context.storage.a = a;
      if (message.asString() === "big") context.storage.b = "y".repeat(2_000_000);
      emit(context, { a });
    },
  });
}

const requests = new Map();
/** Closed gates: each holds the resolvers of the requests waiting for it to open. */
const closedGates = new Map();

function answerJson(res, value) {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

/** `POST /_gates/<gate>/close|open`; true when the request was one. */
function gateControl(req, res, path) {
  const [, control, gate, action] = path.split("/");
  if (req.method !== "POST" || control !== "_gates" || !gate) return false;
  if (action === "close" && !closedGates.has(gate)) closedGates.set(gate, []);
  if (action === "open") {
    for (const release of closedGates.get(gate) ?? []) release();
    closedGates.delete(gate);
  }
  answerJson(res, { gate, closed: closedGates.has(gate) });
  return true;
}

function withFaults(handle) {
  return async (req, res) => {
    const path = req.url ?? "/";
    if (req.method === "GET" && path === "/_stats") return answerJson(res, Object.fromEntries(requests));
    if (req.method === "GET" && path === "/_calls") return answerJson(res, Object.fromEntries(calls));
    if (gateControl(req, res, path)) return;
    const seen = (requests.get(path) ?? 0) + 1;
    requests.set(path, seen);
    const [, fault, arg] = path.split("/");
    if (fault === "flaky" && seen <= Number(arg)) {
      res.writeHead(503);
      return res.end();
    }
    if (fault === "status") {
      res.writeHead(Number(arg));
      return res.end();
    }
    if (fault === "text") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("hello");
    }
    if (fault === "empty") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      return res.end();
    }
    if (fault === "cut") {
      // Promises 100 bytes, sends 1, and closes the connection: the answer is cut while it is read.
      // Closed in order (FIN), not reset: a reset can discard the headers before the caller reads them.
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100" });
      return res.write(new Uint8Array([0]), () => res.socket?.end());
    }
    if (fault === "stall") await new Promise((resolve) => setTimeout(resolve, Number(arg)));
    const waiting = fault === "gate" ? closedGates.get(arg) : undefined;
    if (waiting) await new Promise((resolve) => waiting.push(resolve));
    return handle(req, res);
  };
}

export function startTestFunctionServer(port) {
  return startFunctionServer({ port, bind: bindTestFunctions, wrap: withFaults });
}
