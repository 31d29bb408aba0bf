export function freePort(): Promise<number>;
export function startDevServer(options?: {
  env?: Record<string, string>;
  args?: string[];
  config?: string;
  /** The API-only deployment (wrangler.api-only.toml): no static assets, so no console or /docs. */
  apiOnly?: boolean;
  /** Those of a server stopped before, to start it again with its state; a persistDir given is kept by stop(). */
  port?: number;
  persistDir?: string;
  log?: (line: string) => void;
}): Promise<{ url: string; port: number; persistDir: string; stop: () => Promise<void> }>;
