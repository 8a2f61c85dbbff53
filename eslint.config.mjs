// ESLint over the program, providers, features, bench, tests and the policy pack: JavaScript's
// recommended rules and typescript-eslint's recommended rules (`npm run lint`, part of `npm test`).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Node's CommonJS globals, for the few plain-JavaScript files (bin/phoenix.js, providers/base/bootstrap.js). */
const nodeCommonJsGlobals = {
  require: "readonly",
  module: "writable",
  exports: "writable",
  __dirname: "readonly",
  __filename: "readonly",
  process: "readonly",
  console: "readonly",
  Buffer: "readonly",
};

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "**/node_modules/**",
      "policy/node_modules/**",
      // StrykerJS sandboxes and reports (`npm run mutation`).
      ".stryker-tmp/**",
      "reports/**",
      // A provider serialized by Pulumi as an old stack holds it: generated code, kept byte for byte.
      "test/fixtures/provider-v0/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `const { secret: _secret, ...rest } = x` drops a field on purpose; `_name` marks an unused parameter.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: nodeCommonJsGlobals },
    rules: {
      // Plain CommonJS files: require() is how they load modules.
      "@typescript-eslint/no-require-imports": "off",
    },
  },
);
