/**
 * When the serving "process" started, for ZenML's `/health` `uptime`, `/status` `started_at` and
 * `/info` `created_at`. A Worker has no process, and its module scope cannot read the clock (it
 * is 0 there, 1970, until a request runs). So: when this version of the Worker was deployed, from
 * its version metadata binding (wrangler.toml `[version_metadata]`; `wrangler dev` sets it to when
 * it started); without that binding, the first time this isolate was asked.
 */
let firstAskedAt: number | undefined;

/** Milliseconds since the epoch. */
export function serviceStartedAt(env: { CF_VERSION_METADATA?: { timestamp?: string } }): number {
  const now = Date.now();
  firstAskedAt ??= now;
  const deployedAt = Date.parse(env.CF_VERSION_METADATA?.timestamp ?? "");
  return Number.isFinite(deployedAt) && deployedAt > 0 && deployedAt <= now ? deployedAt : firstAskedAt;
}
