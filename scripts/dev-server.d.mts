export function freePort(): Promise<number>;
export function startDevServer(options?: {
  env?: Record<string, string>;
  args?: string[];
  config?: string;
  log?: (line: string) => void;
}): Promise<{ url: string; port: number; stop: () => Promise<void> }>;
