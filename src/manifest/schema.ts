/**
 * The YAML manifest of a pipeline: the same model as a TypeScript definition (src/pipeline/
 * definition.ts), with names where code goes: `input` names a registered input schema and an
 * inline or queued step's `run` names a registered step function (a Worker cannot load code at run
 * time). Pure module: no platform imports.
 */
import * as z from "zod";
import { inlineStepSchema, pipelineSchema, queuedStepSchema, remoteStepSchema, sinkStepSchema } from "../pipeline/definition";
import type { endpointSchema } from "../remote/endpoint";

const registeredName = (what: string) =>
  z.string({ error: `${what} must be the name of a registered ${what === "run" ? "step function" : "input schema"}` }).min(1);

export const manifestStepSchema = z.discriminatedUnion("kind", [
  inlineStepSchema.extend({ run: registeredName("run") }),
  queuedStepSchema.extend({ run: registeredName("run") }),
  remoteStepSchema,
  sinkStepSchema,
]);

/** Endpoints stay as written (durations as text); the definition schema reads them. */
const manifestEndpointSchema = z.custom<z.input<typeof endpointSchema>>((v) => typeof v === "object" && v !== null);

export const manifestSchema = pipelineSchema.omit({ input: true, steps: true, endpoints: true, version: true }).extend({
  version: z
    .union([z.string().min(1), z.number()])
    .transform(String)
    .default("1"),
  input: registeredName("input"),
  steps: z.array(manifestStepSchema).min(1),
  endpoints: z.array(manifestEndpointSchema).default([]),
});

export type Manifest = z.output<typeof manifestSchema>;
