/**
 * StateFun's HTTP function endpoint (`io.statefun.endpoints.v2/http`), as a pipeline declares it:
 * which functions it serves (`namespace/name` or `namespace/*`), the URL template, batching and
 * transport limits. Validated as StateFun validates them, so a spec written for StateFun means the
 * same here. Pure module: no platform imports.
 */
import * as z from "zod";

/** StateFun's default `maxNumBatchRequests` (`HttpFunctionEndpointSpec`). */
export const DEFAULT_MAX_BATCH_REQUESTS = 1000;
/** StateFun's async transport default and Cloudflare's Durable Object RPC ceiling both allow 32 MiB. */
export const DEFAULT_PAYLOAD_MAX_BYTES = 32 * 1024 * 1024;

/** StateFun's (OkHttp transport) defaults: `call` 1 min, `connect`/`read`/`write` 10 s each. */
export const DEFAULT_TIMEOUTS_MS = { call: 60_000, connect: 10_000, read: 10_000, write: 10_000 } as const;

/** StateFun's async (Netty) transport defaults: `call` 2 min, the whole budget, and `connect` 20 s. */
export const DEFAULT_ASYNC_TIMEOUTS_MS = { call: 120_000, connect: 20_000 } as const;

const ASYNC_TRANSPORT = "io.statefun.transports.v1/async";

/** The async transport's TLS client keys: a Worker's fetch cannot present a client certificate from a manifest. */
const MTLS_KEYS = ["trust_cacerts", "client_cert", "client_key", "client_key_password"] as const;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/**
 * A duration as StateFun's YAML writes it ("1 min", "10 sec", "2m", "500ms"; a bare number is
 * milliseconds), in milliseconds; undefined when it is not one.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? text : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? "").toLowerCase();
  const factor = unit === "" ? 1 : UNIT_MS[unit];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

const duration = (field: string) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `${field} must be a duration such as "10 sec", "1 min", "500ms" or a number of milliseconds` });
      return z.NEVER;
    }
    if (ms === 0) {
      ctx.addIssue({ code: "custom", message: `${field} must not be zero` });
      return z.NEVER;
    }
    return ms;
  });

/** A namespace or name as StateFun's `TypeName` takes it: not empty, no '/', no whitespace. */
const TYPENAME_PART = /^[^/\s]+$/;

/** Checks a `functions` pattern the way StateFun's `TargetFunctions` does; returns the problem or undefined. */
export function functionPatternProblem(pattern: string): string | undefined {
  const slash = pattern.indexOf("/");
  if (slash <= 0 || slash !== pattern.lastIndexOf("/")) return `'${pattern}' must be 'namespace/name' or 'namespace/*'`;
  const namespace = pattern.slice(0, slash);
  const name = pattern.slice(slash + 1);
  if (namespace.includes("*")) return `'${pattern}': a wildcard is allowed only as the whole name ('namespace/*')`;
  if (!TYPENAME_PART.test(namespace)) return `'${pattern}': the namespace must not hold whitespace`;
  if (name === "*") return undefined;
  if (name === "" || name.includes("*")) return `'${pattern}': a wildcard is allowed only as the whole name ('namespace/*')`;
  if (!TYPENAME_PART.test(name)) return `'${pattern}': the name must not hold whitespace`;
  return undefined;
}

/** A function type `namespace/name` (no wildcard). */
export const functionTypeSchema = z.string().superRefine((value, ctx) => {
  const problem = functionPatternProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
  else if (value.endsWith("/*")) ctx.addIssue({ code: "custom", message: `'${value}' names no function: a step calls one function type` });
});

export const endpointSchema = z
  .strictObject({
    /** `namespace/name` or `namespace/*`. */
    functions: z.string().superRefine((value, ctx) => {
      const problem = functionPatternProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    /** The URL, where `{function.name}` stands for the function type's name (StateFun's only placeholder). */
    urlPathTemplate: z.string().superRefine((value, ctx) => {
      const problem = urlTemplateProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    /**
     * An environment variable (a Worker var) whose value, when set, replaces the template's origin:
     * the same pipeline then reaches a local server in development and another one deployed.
     */
    baseUrlEnv: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/, "must be an environment variable name in upper case")
      .optional(),
    /** Invocations buffered per address before its callers are held back (≤ 0: no cap). */
    maxNumBatchRequests: z.number().int().default(DEFAULT_MAX_BATCH_REQUESTS),
    transport: z
      .strictObject({
        type: z.enum(["io.statefun.transports.v1/okhttp", ASYNC_TRANSPORT]).optional(),
        timeouts: z
          .strictObject({
            call: duration("transport.timeouts.call").optional(),
            connect: duration("transport.timeouts.connect").optional(),
            read: duration("transport.timeouts.read").optional(),
            write: duration("transport.timeouts.write").optional(),
          })
          .default({}),
        // The async transport writes `call` and `connect` at the top level of `transport`.
        call: duration("transport.call").optional(),
        connect: duration("transport.connect").optional(),
        payload_max_bytes: z.number().int().positive().max(DEFAULT_PAYLOAD_MAX_BYTES).default(DEFAULT_PAYLOAD_MAX_BYTES),
        // The async transport's connection pool: the platform pools a Worker's connections itself.
        pool_ttl: duration("transport.pool_ttl").optional(),
        pool_size: z.number().int().positive().optional(),
        ...Object.fromEntries(
          MTLS_KEYS.map((key) => [
            key,
            z
              .unknown()
              .refine(() => false, `${key} is not supported: a Worker presents a client certificate only through an mTLS certificate binding`)
              .optional(),
          ]),
        ),
      })
      .default({ timeouts: {}, payload_max_bytes: DEFAULT_PAYLOAD_MAX_BYTES }),
  })
  .transform((spec, ctx) => {
    const t = spec.transport;
    const transport: "okhttp" | "async" = t.type === ASYNC_TRANSPORT ? "async" : "okhttp";
    const timeouts = transport === "async" ? asyncTimeouts(t) : okHttpTimeouts(t);
    // StateFun (DefaultHttpRequestReplyClientSpec): each timeout must be at most `call` (the async
    // transport's are, by construction).
    for (const name of ["connect", "read", "write"] as const) {
      if (timeouts[name] > timeouts.call) {
        ctx.addIssue({
          code: "custom",
          path: ["transport", "timeouts", name],
          message: `the ${name} timeout (${timeouts[name]} ms) must not exceed the call timeout (${timeouts.call} ms)`,
        });
      }
    }
    return {
      functions: spec.functions,
      urlPathTemplate: spec.urlPathTemplate,
      baseUrlEnv: spec.baseUrlEnv,
      maxNumBatchRequests: spec.maxNumBatchRequests,
      transport,
      timeouts,
      payloadMaxBytes: t.payload_max_bytes,
    };
  });

interface TransportTimeouts {
  timeouts: { call?: number; connect?: number; read?: number; write?: number };
  call?: number;
  connect?: number;
}

function okHttpTimeouts(t: TransportTimeouts) {
  return {
    call: t.timeouts.call ?? t.call ?? DEFAULT_TIMEOUTS_MS.call,
    connect: t.timeouts.connect ?? t.connect ?? DEFAULT_TIMEOUTS_MS.connect,
    read: t.timeouts.read ?? DEFAULT_TIMEOUTS_MS.read,
    write: t.timeouts.write ?? DEFAULT_TIMEOUTS_MS.write,
  };
}

/**
 * The async transport has a total budget and a connect timeout; each attempt may take what is
 * left of the budget (NettyRequest), so it has no read or write timeout of its own. StateFun's
 * async spec reads a `timeouts` object with the OkHttp defaults (call 1 min).
 */
function asyncTimeouts(t: TransportTimeouts) {
  const call = t.timeouts.call ?? t.call ?? (Object.keys(t.timeouts).length > 0 ? DEFAULT_TIMEOUTS_MS.call : DEFAULT_ASYNC_TIMEOUTS_MS.call);
  const connect = Math.min(t.timeouts.connect ?? t.connect ?? DEFAULT_ASYNC_TIMEOUTS_MS.connect, call);
  return { call, connect, read: call, write: call };
}

export type EndpointSpecInput = z.input<typeof endpointSchema>;
export type EndpointSpec = z.output<typeof endpointSchema>;

/** What is wrong with a URL template, or undefined. Workers' fetch speaks http and https only. */
export function urlTemplateProblem(template: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(template)?.[1]?.toLowerCase();
  if (scheme === "http+unix" || scheme === "https+unix") {
    return `'${scheme}' is not supported: a Worker cannot open UNIX domain sockets; serve the function over http or https`;
  }
  if (scheme !== "http" && scheme !== "https") return `'${template}' must be an http:// or https:// URL`;
  try {
    new URL(template.replaceAll("{function.name}", "name"));
  } catch {
    return `'${template}' is not a valid URL`;
  }
  return undefined;
}

/** The endpoint serving `functionType`: an exact `functions` match wins over a `namespace/*` one. */
export function matchEndpoint<T extends { functions: string }>(endpoints: readonly T[], functionType: string): T | undefined {
  const exact = endpoints.find((e) => e.functions === functionType);
  if (exact) return exact;
  const namespace = functionType.slice(0, functionType.indexOf("/"));
  return endpoints.find((e) => e.functions === `${namespace}/*`);
}

/**
 * The URL to POST `functionType`'s invocations to: the template with `{function.name}` replaced,
 * and its origin (and any base path) replaced by the `baseUrlEnv` variable when that is set.
 */
export function resolveFunctionUrl(
  spec: Pick<EndpointSpec, "urlPathTemplate" | "baseUrlEnv">,
  functionType: string,
  env: Readonly<Record<string, unknown>>,
): string {
  const name = functionType.slice(functionType.indexOf("/") + 1);
  const url = new URL(spec.urlPathTemplate.replaceAll("{function.name}", name));
  const base = spec.baseUrlEnv ? env[spec.baseUrlEnv] : undefined;
  if (typeof base !== "string" || base.trim() === "") return url.toString();
  const problem = urlTemplateProblem(base);
  if (problem) throw new Error(`${spec.baseUrlEnv}: ${problem}`);
  const origin = new URL(base);
  const prefix = origin.pathname.replace(/\/+$/, "");
  return `${origin.origin}${prefix}${url.pathname}${url.search}`;
}
