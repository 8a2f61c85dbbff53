// Where the shared migration cases live: `../shared/cases/migration` beside the repository (as CI
// checks it out); PHOENIX_SHARED_DIR overrides `../shared`. Tests fail, never skip, without them.
import * as path from "node:path";
import { repoRoot } from "../load";

export const SHARED_DIR = path.resolve(process.env.PHOENIX_SHARED_DIR ?? path.join(repoRoot, "..", "shared"));
export const CASES_DIR = path.join(SHARED_DIR, "cases", "migration");

/** The case folders the README lists; each must exist. */
export const CASES = ["base", "c1", "cb1", "cb2", "cb3", "cb4", "cb5", "cb6", "cb7", "x1", "s1", "s2", "fw"] as const;
