/**
 * The code the example manifests (*.yaml beside this file) may name: step functions for `run`,
 * input schemas for `input`. A manifest names them; `npm run build` checks that every name exists.
 */
import type { Registry } from "../../src/manifest/compile";
import { upperAscii } from "./bytes";
import { generate, prepare, promptInput } from "./chat";
import { keyByName, nameInput } from "./greeter";
import { classify, shout, split } from "./sentences";
import { sleep, sleepInput } from "./sleep";
import { count, normalise, summarise, textInput } from "./word-stats";

export const registry: Registry = {
  source: "examples/pipelines/registry.ts",
  stepFunctions: { normalise, count, summarise, split, classify, shout, sleep, "key-by-name": keyByName, prepare, generate, "upper-ascii": upperAscii },
  inputSchemas: { text: textInput, sleep: sleepInput, name: nameInput, prompt: promptInput },
};
