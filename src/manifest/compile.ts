/**
 * From a parsed manifest to a pipeline definition: validates its shape, resolves the names of
 * registered step functions and input schemas, and compiles the graph. Every problem comes back
 * with its path in the manifest and how to fix it. Pure module: no platform imports.
 */
import * as z from "zod";
import type { JsonValue } from "../pipeline/message";
import { BYTES_INPUT, type PipelineDefinition, type StepFunction } from "../pipeline/definition";
import { compilePipeline, PipelineDefinitionError, type Pipeline } from "../pipeline/graph";
import { manifestSchema } from "./schema";

/** The code a manifest may name: step functions and input schemas, by name. */
export interface Registry {
  stepFunctions: Readonly<Record<string, StepFunction>>;
  inputSchemas: Readonly<Record<string, z.ZodType<JsonValue>>>;
  /** Where they are registered (named in fixes). */
  source: string;
}

export interface ManifestIssue {
  path: (string | number)[];
  message: string;
  fix?: string;
}

export type CompiledManifest = { ok: true; pipeline: Pipeline; definition: PipelineDefinition } | { ok: false; issues: ManifestIssue[] };

export function compileManifest(raw: unknown, registry: Registry): CompiledManifest {
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map(zodIssue) };
  }
  const manifest = parsed.data;
  const issues: ManifestIssue[] = [];
  const names = (record: Readonly<Record<string, unknown>>) => Object.keys(record).sort().join(", ") || "none yet";

  // `bytes`, unless a registry names a schema so, is the raw request body.
  const input = registry.inputSchemas[manifest.input] ?? (manifest.input === "bytes" ? BYTES_INPUT : undefined);
  if (!input) {
    issues.push({
      path: ["input"],
      message: `no input schema named '${manifest.input}' is registered`,
      fix: `use one of: ${names(registry.inputSchemas)}, or bytes (the raw request body); or register it in ${registry.source}`,
    });
  }
  const steps = manifest.steps.map((step, i) => {
    if (step.kind !== "inline" && step.kind !== "queued") return step;
    const run = registry.stepFunctions[step.run];
    if (!run) {
      issues.push({
        path: ["steps", i, "run"],
        message: `no step function named '${step.run}' is registered`,
        fix: `use one of: ${names(registry.stepFunctions)}; or register it in ${registry.source}`,
      });
    }
    return { ...step, run: run ?? (() => null) };
  });
  // The graph is checked too, with stand-ins for what was not found, so that one run of the
  // build reports the graph's first problem beside the names it could not find.
  const definition = { ...manifest, input: input ?? z.json(), steps } as PipelineDefinition;
  try {
    const pipeline = compilePipeline(definition);
    return issues.length > 0 ? { ok: false, issues } : { ok: true, pipeline, definition };
  } catch (error) {
    if (!(error instanceof PipelineDefinitionError)) throw error;
    // The graph's messages start with "pipeline '<name>': ", which the manifest's file already says.
    let message = error.message.replace(/^pipeline '[^']*': /, "").replace(/^[\w.[\]]+: /, "");
    // "edges[0].to names step …" reads "edges[0].to: names step …" once the path is shown first.
    const shownPath = formatPath(error.path);
    if (message.startsWith(`${shownPath} `)) message = message.slice(shownPath.length + 1);
    return { ok: false, issues: [...issues, { path: [...error.path], message, fix: error.fix ?? fixFor(error.path) }] };
  }
}

function zodIssue(issue: z.core.$ZodIssue): ManifestIssue {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  if (issue.code === "unrecognized_keys") {
    return {
      path,
      message: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}`,
      fix: "remove it or correct its spelling (the README's manifest reference lists every field)",
    };
  }
  if (issue.code === "invalid_union" && path.at(-1) === "kind") {
    return { path, message: issue.message, fix: "kind is one of inline, queued, remote, sink" };
  }
  return { path, message: issue.message, fix: fixFor(path) };
}

/** The fix to suggest for a field whose value is wrong. */
function fixFor(path: readonly (string | number)[]): string {
  const field = path.at(-1);
  if (field === "functions" || field === "function") {
    return "write the function type as 'namespace/name', or 'namespace/*' for an endpoint serving a whole namespace";
  }
  return "see the README's manifest reference for what this field takes";
}

/** `steps[1].run` for the path `["steps", 1, "run"]`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("") || "(top level)";
}
