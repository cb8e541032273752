import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));

// The dashboard page: built once to static files that the dashboard process serves.
export default defineConfig({
  root: here,
  base: "./",
  logLevel: "warn",
  build: {
    outDir: path.resolve(here, "../../dist/dashboard"),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 200,
  },
});
