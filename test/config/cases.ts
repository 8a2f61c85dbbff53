// The migration cases (small inputs from the field, each with its right behaviour; README there).
// Their source is the project's shared folder, `../shared/cases/migration` beside the repository
// (PHOENIX_SHARED_DIR overrides `../shared`); a copy lives in the repository
// (test/fixtures/migration-cases) so the suite runs from a plain clone, as the GitHub pipeline
// checks it out. test/config/migration-cases.test.ts fails when the copy and the source differ.
import * as path from "node:path";
import { repoRoot } from "../load";

/** The shared folder the cases come from (may be absent outside the project's own CI). */
export const SHARED_DIR = path.resolve(process.env.PHOENIX_SHARED_DIR ?? path.join(repoRoot, "..", "shared"));
export const SHARED_CASES_DIR = path.join(SHARED_DIR, "cases", "migration");
/** The cases as the tests read them: the repository's copy. */
export const CASES_DIR = path.join(repoRoot, "test", "fixtures", "migration-cases");

/** The case folders the README lists; each must exist. */
export const CASES = ["base", "c1", "cb1", "cb2", "cb3", "cb4", "cb5", "cb6", "cb7", "x1", "s1", "s2", "fw"] as const;
