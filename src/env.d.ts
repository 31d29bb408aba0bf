// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; they are declared here.
interface Env {
  /** Comma-separated bearer tokens (a Worker secret; `.dev.vars` locally). Unset: no auth. */
  EDGESERVE_AUTH_TOKENS?: string;
}
