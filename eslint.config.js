import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["node_modules/**", "artifacts/**", "cache/**", "types/**", "coverage/**", "dist/**", "test-artifacts/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "onnxruntime-node",
              message: "import { ort } from node/inference/ort.ts: it turns onnxruntime's telemetry off.",
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  { files: ["node/inference/ort.ts"], rules: { "@typescript-eslint/no-restricted-imports": "off" } },
);
