import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_KINDS, REASON_CODES, isReasonCode, readReasonCodesBlock, renderReasonCodesTable, type ErrorKind, type ReasonCode } from "@asm/shared";

// The catalogue (shared/src/errors/reason-codes.ts) is the one list of reason codes: the README's
// table is generated from it, and every code the README or a proto names must be in it, with the
// kind they pair it with.

const root = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const protoDir = join(root, "proto", "asm", "v1");
const protos = readdirSync(protoDir)
  .filter((f) => f.endsWith(".proto"))
  .map((f) => ({ name: `proto/asm/v1/${f}`, text: comments(readFileSync(join(protoDir, f), "utf8")) }));
const documents = [{ name: "README.md", text: readme }, ...protos];

/** The comment text of a proto file, lines joined (lists run across lines). */
function comments(proto: string): string {
  return proto
    .split("\n")
    .map((line) => /^\s*\/\/ ?(.*)$/.exec(line)?.[1] ?? "")
    .join("\n");
}

/** Identifiers with an underscore: what a reason code looks like (backticks dropped). */
function identifiers(text: string): string[] {
  return [...text.replace(/`/g, "").matchAll(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g)].map((m) => m[0]);
}

/** The codes of every "Reason codes…: a, b, … ." list in `text`. */
function listedCodes(text: string): string[] {
  const lists = [...text.matchAll(/Reason codes[^:.]*:([\s\S]*?)\.(?:\s|$)/g)].map((m) => m[1]!);
  return lists.flatMap(identifiers);
}

/** `[kind, code]` pairs a document writes as "kind / code" or "kind K, reason_code C". */
function kindCodePairs(text: string): Array<[string, string]> {
  const plain = text.replace(/`/g, "");
  const slash = [...plain.matchAll(/\b([a-z_]+) \/ ([a-z][a-z0-9_]*)\b/g)].filter((m) => (ERROR_KINDS as readonly string[]).includes(m[1]!));
  const spelled = [...plain.matchAll(/\bkind (\w+),\s+reason_code (\w+)/g)];
  return [...slash, ...spelled].map((m) => [m[1]!, m[2]!]);
}

describe("reason codes: one catalogue", () => {
  it("every code has a kind asm knows, a retryable flag and a summary", () => {
    const codes = Object.keys(REASON_CODES) as ReasonCode[];
    expect(codes.length).toBeGreaterThan(50);
    for (const code of codes) {
      const spec = REASON_CODES[code];
      expect(ERROR_KINDS, code).toContain(spec.kind);
      expect(typeof spec.retryable, code).toBe("boolean");
      expect(spec.summary.length, code).toBeGreaterThan(10);
      expect(code, "snake_case").toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    }
  });

  it("the README's table is the catalogue (regenerate it with `make docs`)", () => {
    const block = readReasonCodesBlock(readme);
    expect(block, "README.md has no reason-codes block").toBeDefined();
    expect(block).toBe(renderReasonCodesTable());
  });

  it("every code a 'Reason codes:' list of the README or a proto names is in the catalogue", () => {
    let named = 0;
    for (const doc of documents) {
      for (const code of listedCodes(doc.text)) {
        named += 1;
        expect(isReasonCode(code), `${doc.name} lists ${code}, which the catalogue does not have`).toBe(true);
      }
    }
    // The remote list alone names over twenty (README and controller.proto).
    expect(named).toBeGreaterThan(40);
  });

  it("every 'kind / code' pair of the README and the protos matches the catalogue", () => {
    let pairs = 0;
    for (const doc of documents) {
      for (const [kind, code] of kindCodePairs(doc.text)) {
        pairs += 1;
        expect(isReasonCode(code), `${doc.name}: ${kind} / ${code}: no such reason code`).toBe(true);
        if (isReasonCode(code)) expect(REASON_CODES[code].kind, `${doc.name}: ${kind} / ${code}`).toBe(kind as ErrorKind);
      }
    }
    expect(pairs).toBeGreaterThan(5);
  });

  it("every 'reason_code X' a proto names is in the catalogue", () => {
    const mentions = protos.flatMap((p) => [...p.text.matchAll(/reason_code ([a-z][a-z0-9]*(?:_[a-z0-9]+)+)/g)].map((m) => ({ doc: p.name, code: m[1]! })));
    expect(mentions.length).toBeGreaterThanOrEqual(2);
    for (const { doc, code } of mentions) expect(isReasonCode(code), `${doc}: reason_code ${code}`).toBe(true);
  });

  it("every code in the catalogue is raised somewhere in the code (no dead entries)", () => {
    const sources = ["shared/src", "controller/src", "executor-agent/src"].flatMap((dir) => tsFiles(join(root, dir)));
    const text = sources.filter((f) => !f.endsWith("reason-codes.ts") && !f.endsWith("reason-codes-doc.ts")).map((f) => readFileSync(f, "utf8")).join("\n");
    // Built from a template: AsmError.notFound(what) raises `${what}_not_found`.
    const templated = new Set<ReasonCode>(["session_not_found", "run_not_found", "approval_not_found"]);
    const dead = (Object.keys(REASON_CODES) as ReasonCode[]).filter((code) => !templated.has(code) && !text.includes(`"${code}"`));
    expect(dead).toEqual([]);
  });
});

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}
