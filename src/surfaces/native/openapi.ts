/**
 * The native API's OpenAPI 3.1 document, generated from its route table (routes.ts) with zod's own
 * JSON Schema conversion: request parameters as zod reads them (`io: "input"`), responses as the
 * handlers write them (`io: "output"`). Named schemas go to `components.schemas` and are referred
 * to with `$ref` wherever a route or another schema uses them.
 */
import * as z from "zod";

type JsonSchema = Record<string, unknown>;

/** One operation of the document; routes.ts serves it with its `params` and `headers` validated. */
export interface NativeRoute {
  method: "get" | "post" | "delete";
  /** OpenAPI style, e.g. `/v1/runs/{id}` (see `honoPath`). */
  path: string;
  tags: string[];
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** Security schemes any one of which opens the route, when not just the document's default. */
  security?: readonly string[];
  /** Documented only: the handler reads and checks the body itself. */
  requestBody?: { required: boolean; description: string; content: Record<string, { schema: JsonSchema }> };
  responses: Record<number, { description: string; content?: Record<string, { schema: z.ZodType }> }>;
}

/** A named schema: a zod schema, or one that adds `fields` to another named one (shown as `allOf`). */
export type Component = z.ZodType | { schema: z.ZodType; extends: string; fields: z.ZodObject };

export interface DocumentOptions {
  info: { title: string; version: string; description: string };
  securitySchemes: Record<string, JsonSchema>;
  routes: readonly NativeRoute[];
  components: Record<string, Component>;
}

/** `/v1/runs/{id}` → `/v1/runs/:id`. */
export function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ":$1");
}

export function openApiDocument({ info, securitySchemes, routes, components }: DocumentOptions): JsonSchema {
  const names = new Map<z.core.$ZodType, string>();
  for (const [name, component] of Object.entries(components)) names.set(component instanceof z.ZodType ? component : component.schema, name);
  const converter = new Converter(names);

  const schemas: JsonSchema = {};
  for (const [name, component] of Object.entries(components)) {
    schemas[name] =
      component instanceof z.ZodType
        ? converter.convert(component, "output", true)
        : { allOf: [{ $ref: ref(component.extends) }, converter.convert(component.fields, "output", true)] };
  }

  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const parameters = [
      ...converter.parameters(route.params, "path"),
      ...converter.parameters(route.query, "query"),
      ...converter.parameters(route.headers, "header"),
    ];
    const responses: JsonSchema = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.content
          ? {
              content: Object.fromEntries(
                Object.entries(response.content).map(([type, { schema }]) => [type, { schema: converter.convert(schema, "output") }]),
              ),
            }
          : {}),
      };
    }
    (paths[route.path] ??= {})[route.method] = {
      tags: route.tags,
      summary: route.summary,
      ...(route.requestBody ? { requestBody: route.requestBody } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.security ? { security: route.security.map((name) => ({ [name]: [] })) } : {}),
      responses,
    };
  }

  return {
    openapi: "3.1.0",
    info,
    security: Object.keys(securitySchemes).map((name) => ({ [name]: [] })),
    components: { securitySchemes, schemas, parameters: {} },
    paths,
    webhooks: {},
  };
}

function ref(name: string): string {
  return `#/components/schemas/${name}`;
}

class Converter {
  constructor(private readonly names: ReadonlyMap<z.core.$ZodType, string>) {}

  /** A schema as JSON Schema; named schemas inside it (and itself, unless `root`) become `$ref`s. */
  convert(schema: z.ZodType, io: "input" | "output", root = false): JsonSchema {
    const name = this.names.get(schema);
    if (name && !root) return { $ref: ref(name) };
    const json = z.toJSONSchema(schema, {
      io,
      override: ({ zodSchema, jsonSchema }) => {
        const nested = (zodSchema as z.core.$ZodType) === schema ? undefined : this.names.get(zodSchema);
        if (!nested) return;
        for (const key of Object.keys(jsonSchema)) delete (jsonSchema as JsonSchema)[key];
        (jsonSchema as JsonSchema).$ref = ref(nested);
      },
    }) as JsonSchema;
    delete json.$schema;
    return tidy(json);
  }

  /** An object schema's properties as OpenAPI parameters (path parameters are always required). */
  parameters(schema: z.ZodObject | undefined, location: "path" | "query" | "header"): JsonSchema[] {
    if (!schema) return [];
    const json = this.convert(schema, "input");
    const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((json.required ?? []) as string[]);
    return Object.entries(properties).map(([name, property]) => ({
      schema: property,
      required: location === "path" || required.has(name),
      ...(typeof property.description === "string" ? { description: property.description } : {}),
      name,
      in: location,
    }));
  }
}

/**
 * Writes what zod generates the way the document has always shown it: objects stay open (no
 * `additionalProperties: false`, which `io: "output"` adds, so clients accept fields added later),
 * integers without the safe-integer bounds, records without `propertyNames: { type: "string" }`,
 * and a nullable object or array as `type: [<type>, "null"]` rather than `anyOf`.
 */
function tidy(schema: JsonSchema): JsonSchema {
  let out: JsonSchema = { ...schema };
  if (out.properties) out.properties = Object.fromEntries(Object.entries(out.properties as Record<string, JsonSchema>).map(([k, v]) => [k, tidy(v)]));
  for (const key of ["items", "additionalProperties"] as const) {
    if (out[key] && typeof out[key] === "object") out[key] = tidy(out[key] as JsonSchema);
  }
  for (const key of ["anyOf", "allOf", "oneOf"] as const) {
    if (Array.isArray(out[key])) out[key] = (out[key] as JsonSchema[]).map(tidy);
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  if (out.type === "integer" && out.minimum === Number.MIN_SAFE_INTEGER && out.maximum === Number.MAX_SAFE_INTEGER) {
    delete out.minimum;
    delete out.maximum;
  }
  const names = out.propertyNames as JsonSchema | undefined;
  if (names && Object.keys(names).length === 1 && names.type === "string") delete out.propertyNames;
  const anyOf = out.anyOf as JsonSchema[] | undefined;
  if (anyOf?.length === 2 && typeof anyOf[0]!.type === "string" && Object.keys(anyOf[1]!).length === 1 && anyOf[1]!.type === "null") {
    const { anyOf: _, ...rest } = out;
    out = { ...anyOf[0], type: [anyOf[0]!.type, "null"], ...rest };
  }
  return out;
}
