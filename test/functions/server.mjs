// The StateFun function server of the workerd tests: real functions written with StateFun's
// JavaScript SDK (`apache-flink-statefun`), served over HTTP by examples/functions/server.mjs, with
// faults chosen by the URL path in front of the SDK (each endpoint of a test pipeline picks one):
//   /flaky/<n>/<name>   the first n requests to that path answer 503
//   /status/<code>/<name>  always answers <code>
//   /stall/<ms>/<name>  waits <ms> before the SDK answers
//   /text/<name>        answers 200 with text/plain
//   GET /_stats         requests seen per path, as JSON
import { StateFun, egressMessageBuilder, messageBuilder } from "apache-flink-statefun";
import { bindGreeter } from "../../examples/functions/greeter.mjs";
import { startFunctionServer } from "../../examples/functions/server.mjs";

const JSON_OUT = StateFun.jsonType("test/Out");

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
}

const requests = new Map();

function withFaults(handle) {
  return async (req, res) => {
    const path = req.url ?? "/";
    if (req.method === "GET" && path === "/_stats") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(Object.fromEntries(requests)));
    }
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
    if (fault === "stall") await new Promise((resolve) => setTimeout(resolve, Number(arg)));
    return handle(req, res);
  };
}

export function startTestFunctionServer(port) {
  return startFunctionServer({ port, bind: bindTestFunctions, wrap: withFaults });
}
