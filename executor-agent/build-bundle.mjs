#!/usr/bin/env node
// Builds the executor agent into ONE file, runnable with plain `node` on a host with no
// node_modules: `node asm-executor.cjs --help`.
//
//   node executor-agent/build-bundle.mjs [--outfile <path>]   (default executor-agent/dist/asm-executor.cjs)
//
// Everything is bundled from TypeScript source (@asm/shared included, so no prior `tsc -b` is
// needed); esbuild does not type-check, `make build` runs tsc for that. CommonJS output, because
// grpc-js and pino are CommonJS; `import.meta` in shared code becomes an object whose `url` is
// the bundle's own file URL. pino is used with its default synchronous stdout destination only, never a
// transport, so no worker-thread file has to exist next to the bundle.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const { values } = parseArgs({ options: { outfile: { type: "string", default: here("./dist/asm-executor.cjs") } } });

const result = await build({
  entryPoints: [here("./src/main.ts")],
  outfile: values.outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  alias: { "@asm/shared": here("../shared/src/index.ts") },
  define: { "import.meta": "__asmImportMeta" },
  banner: { js: 'var __asmImportMeta = { url: require("node:url").pathToFileURL(__filename).href };' },
  keepNames: true, // class names in logs (pino's err.type) stay as in the source
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});

const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
process.stdout.write(`executor bundle: ${values.outfile} (${Math.round(bytes / 1024)} KiB)\n`);
