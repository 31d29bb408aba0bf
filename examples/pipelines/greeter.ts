/**
 * The inline step of `greeter` (greeter.yaml): keys the message by name, so each name is its own
 * StateFun address (`example/greeter/<name>`) with its own `seen` counter. The function itself is
 * examples/functions/greeter.mjs, written with StateFun's JavaScript SDK.
 */
import * as z from "zod";
import type { StepFunction } from "../../src/pipeline/definition";

export const nameInput = z.strictObject({ name: z.string().min(1).max(200) });

export const keyByName: StepFunction = (message) => {
  const { name } = nameInput.parse(message.value);
  return { value: name, keys: [name] };
};
