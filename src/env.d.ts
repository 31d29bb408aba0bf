// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; they are declared here.
interface Env {
  /** Comma-separated bearer tokens (a Worker secret; `.dev.vars` locally). Unset: no auth. */
  EDGESERVE_AUTH_TOKENS?: string;
  /** The bearer key the `chat` pipeline sends to its model server (EDGESERVE_MODEL_URL), when set (a secret). */
  EDGESERVE_MODEL_API_KEY?: string;
}
