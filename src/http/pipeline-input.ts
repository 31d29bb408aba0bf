/**
 * Turns a request body into a pipeline's input message: UTF-8 → JSON → the pipeline's zod schema,
 * or, for a pipeline that takes bytes, the body as it came. Every failure is a 400 that says what
 * was wrong; no run starts on bad input.
 */
import { ApiError, detailsFromIssues } from "../errors/api-error";
import { takesBytes } from "../pipeline/definition";
import type { Pipeline } from "../pipeline/graph";
import { storeMessage, utf8Text, type JsonValue, type StoredMessage } from "../pipeline/message";
import { nestsTooDeep, TOO_DEEP_MESSAGE } from "./json-depth";

const utf8 = new TextEncoder();

export function parsePipelineInput(pipeline: Pipeline, body: ArrayBuffer): StoredMessage {
  if (takesBytes(pipeline.definition)) return storeMessage({ value: new Uint8Array(body), tags: [], keys: [] });
  const text = utf8Text(body);
  if (text === undefined) throw new ApiError("malformed_json", "the request body is not valid UTF-8");
  if (text.trim() === "") {
    throw new ApiError("malformed_json", `the request body is empty; pipeline '${pipeline.name}' expects a JSON document`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? `: ${error.message}` : "";
    throw new ApiError("malformed_json", `the request body is not valid JSON${reason}`);
  }
  if (nestsTooDeep(json)) throw new ApiError("malformed_json", TOO_DEEP_MESSAGE);
  return validatePipelineInput(pipeline, json);
}

/** Validates an already-parsed value against the pipeline's input schema. */
export function validatePipelineInput(pipeline: Pipeline, json: unknown, options: { where?: readonly string[] } = {}): StoredMessage {
  // A surface that parsed the value already (ZenML's parameters): the pipeline gets its JSON text.
  if (takesBytes(pipeline.definition)) return storeMessage({ value: utf8.encode(JSON.stringify(json ?? null)), tags: [], keys: [] });
  // The failing value goes into the issue: FastAPI's 422 (the ZenML surface) shows it; others drop it.
  const parsed = pipeline.definition.input.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    const details = detailsFromIssues(parsed.error.issues).map((d) => ({ ...d, path: [...(options.where ?? []), ...d.path] }));
    throw new ApiError("invalid_input", `the input does not match the input schema of pipeline '${pipeline.name}'`, { details });
  }
  return storeMessage({ value: parsed.data as JsonValue, tags: [], keys: [] });
}
