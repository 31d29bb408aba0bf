export function freePort(): Promise<number>;
export function startDevServer(options?: {
  env?: Record<string, string>;
  args?: string[];
  config?: string;
  /** Those of a server stopped before, to start it again with its state; a persistDir given is kept by stop(). */
  port?: number;
  persistDir?: string;
  log?: (line: string) => void;
}): Promise<{ url: string; port: number; persistDir: string; stop: () => Promise<void> }>;
