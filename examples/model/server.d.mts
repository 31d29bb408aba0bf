export const DEFAULT_MODEL_PORT: number;
export const DEFAULT_MODEL_DELAY_MS: number;
export const MODEL_NAME: string;

/** The reply to a prompt (its words reversed) and the test directives found at its start. */
export function replyTo(prompt: string): {
  words: string[];
  directives: Partial<Record<"delay" | "status" | "drop" | "truncate" | "garbage" | "malformed", number>> & { tag?: string };
};

export interface ModelServerStats {
  /** Streams in progress. */
  open: number;
  /** Chat completions asked for. */
  requests: number;
  /** Answered in full. */
  completed: number;
  /** Streams the client abandoned before the end. */
  aborted: number;
  /** Requests a test directive failed on purpose. */
  faults: number;
  /** Refused: a wrong key (401) or a bad request (400). */
  rejected: number;
}

export interface ModelServer {
  url: string;
  port: number;
  /** The counters of every request, or with a tag those of the requests tagged `!tag=<tag>`. */
  stats(tag?: string): ModelServerStats;
  stop(): Promise<void>;
}

export function startModelServer(options?: {
  port?: number;
  delayMs?: number;
  apiKey?: string;
  log?: (line: string) => void;
  /** Awaited before the first chunk of a request tagged `!tag=<tag>`. */
  hold?: (tag: string) => Promise<void>;
  /** Told when each content chunk of a tagged request was sent. */
  onChunk?: (tag: string, index: number, at: number) => void;
}): Promise<ModelServer>;
