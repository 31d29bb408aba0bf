/**
 * `Idempotency-Key` on native starts (IETF draft "The Idempotency-Key HTTP Header Field"): the key
 * chooses the run's id, so a retried create finds the run the first one started; the SHA-256 of
 * the request body is kept with the run, and the key sent again with another body is refused
 * (422 `idempotency_key_reused`) rather than answered with a run of different input.
 */
import { ApiError } from "../../errors/api-error";
import type { RunSnapshot } from "../../runs/protocol";

/** The id part a key stands for: 128 bits of its SHA-256, so the key itself is never stored or shown. */
export async function idempotentIdPart(key: string): Promise<string> {
  return `idem-${hex(await sha256(new TextEncoder().encode(key))).slice(0, 32)}`;
}

/** The request body's fingerprint, kept with the run (base64url SHA-256: 43 characters). */
export async function requestDigest(body: ArrayBuffer): Promise<string> {
  const bytes = new Uint8Array(await sha256(body));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Refuses a replay whose body is not the one that started the run (a run stored without a digest is taken as the same). */
export function assertSameRequest(existing: RunSnapshot, digest: string): void {
  if (existing.requestDigest !== undefined && existing.requestDigest !== digest) {
    throw new ApiError(
      "idempotency_key_reused",
      "this Idempotency-Key was already used with a different request body; send a new key for a new request, or the same body to get the run it started",
    );
  }
}

function sha256(bytes: BufferSource): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", bytes);
}

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
