// The one sha256 helper of the product code: script hashes (features/registry.ts), resource
// identities and change triggers (providers/), the SSH host-key fingerprint (providers/ssh).
import { createHash } from "crypto";

/**
 * sha256 of `data` (a string is hashed as UTF-8), as lower-case hex (default, 64 characters) or
 * as base64 with its `=` padding (44 characters).
 */
export function sha256(data: string | Buffer, encoding: "hex" | "base64" = "hex"): string {
  return createHash("sha256").update(data).digest(encoding);
}
