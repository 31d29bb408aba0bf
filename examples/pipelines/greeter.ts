/**
 * `greeter`: a remote StateFun function as a step. An inline step keys the message by name, so each
 * name is its own StateFun address (`example/greeter/<name>`) with its own `seen` counter; the
 * function (examples/functions/greeter.mjs, StateFun's JavaScript SDK) counts the calls and emits
 * `{"greeting": "Hello <name>, I have seen you <n> times"}`.
 */
import { z } from "zod";
import { definePipeline } from "../../src/pipeline/definition";

const nameInput = z.strictObject({ name: z.string().min(1).max(200) });

export default definePipeline({
  name: "greeter",
  version: "1",
  description: "Greets a name and counts, in StateFun state, how often it has seen it.",
  input: nameInput,
  endpoints: [
    {
      functions: "example/*",
      urlPathTemplate: "http://127.0.0.1:9090/{function.name}",
      // `EDGESERVE_FUNCTIONS_URL=http://host:port npm run dev` points the endpoint at another server.
      baseUrlEnv: "EDGESERVE_FUNCTIONS_URL",
      transport: { timeouts: { call: "30 sec", connect: "5 sec", read: "10 sec", write: "10 sec" } },
    },
  ],
  steps: [
    {
      name: "key-by-name",
      kind: "inline",
      run: (message) => {
        const { name } = nameInput.parse(message.value);
        return { value: name, keys: [name] };
      },
    },
    { name: "greet", kind: "remote", function: "example/greeter", output: "json" },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "key-by-name", to: "greet" },
    { from: "greet", to: "out" },
  ],
});
