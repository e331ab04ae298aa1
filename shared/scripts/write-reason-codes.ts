// Rewrites the reason-code table of README.md from the catalogue (`make docs`).
import { readFileSync, writeFileSync } from "node:fs";
import { writeReasonCodesBlock } from "../src/errors/reason-codes-doc.js";

const path = process.argv[2] ?? "README.md";
const before = readFileSync(path, "utf8");
const after = writeReasonCodesBlock(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? `${path}: reason codes up to date\n` : `${path}: reason codes rewritten\n`);
