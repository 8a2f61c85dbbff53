// A tiny real kind used to prove the provider base, the harness and the lifecycle helper:
// one file under /etc/phoenix-test/ in the test host's throwaway root.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { requireNode } from "../../load";

const { z } = requireNode("zod") as typeof import("zod");

export const etcFileKind = {
  kind: "etc-file",
  params: z
    .object({
      name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
      content: z.string(),
      mode: z.string().regex(/^[0-7]{3}$/),
      protected: z.enum(["0", "1"]).optional(),
    })
    .strict(),
  replaceOn: ["name"],
  lock: "etc-file",
  timeoutMs: 60_000,
};

const text = readFileSync(path.join(__dirname, "etc-file.sh"), "utf8");
export const etcFileScript = {
  room: "hypervisor" as const,
  name: "etc_file",
  file: "test/providers/base/etc-file.sh",
  text,
  sha256: createHash("sha256").update(text).digest("hex"),
};
