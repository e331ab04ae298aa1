/**
 * Bundles test/fake-cli/fake-claude.ts into a standalone `<outDir>/fake-claude.mjs`
 * (shebang, mode 755) that plain `node` can run. Idempotent and safe to call from
 * parallel test workers: the file is written to a temp name and renamed into place,
 * and left untouched when its contents are already current.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const SOURCE = fileURLToPath(new URL("./fake-claude.ts", import.meta.url));

export async function buildFakeCli(outDir: string): Promise<string> {
  const dir = resolve(outDir);
  const outFile = resolve(dir, "fake-claude.mjs");
  await mkdir(dir, { recursive: true });

  const result = await build({
    entryPoints: [SOURCE],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    outfile: outFile,
    write: false,
    logLevel: "silent",
  });
  const output = result.outputFiles.find((f) => f.path === outFile) ?? result.outputFiles[0];
  if (!output) throw new Error("buildFakeCli: esbuild produced no output");
  const contents = output.contents;

  const existing = await readFile(outFile).catch(() => null);
  if (existing && Buffer.compare(existing, Buffer.from(contents)) === 0) {
    await chmod(outFile, 0o755);
    return outFile;
  }

  const tmp = `${outFile}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, contents, { mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, outFile);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return outFile;
}
