/**
 * `make transcripts`: drives the pinned real CLIs (claude, codex, gemini) offline, each against
 * its loopback mock model server, through the scenarios of `*-scenarios.ts`, and writes one
 * normalized transcript per scenario to `test/fixtures/transcripts/<provider>/<scenario>.log`.
 * Runs inside the loopback-only network namespace (test/run-isolated.sh).
 *
 *   npx tsx test/transcripts/record-transcripts.ts [provider[/scenario] ...]
 *
 * With no argument every scenario is recorded. A scenario that fails (a wait times out, the CLI
 * misbehaves) fails the whole command and writes nothing for that scenario.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockModel } from "../mock-models/index.js";
import { claudeHarness, codexHarness, geminiHarness, type ProviderHarness } from "../real-cli/provider-harness.js";
import { systemPath } from "../helpers/test-controller.js";
import { claudeRecordings } from "./claude-scenarios.js";
import { codexRecordings } from "./codex-scenarios.js";
import { geminiRecordings } from "./gemini-scenarios.js";
import { CliRecording, type Entry } from "./cli-recording.js";
import { TranscriptNormalizer } from "./normalize-transcript.js";
import type { ProviderRecordings, TranscriptScenario } from "./transcript-scenario.js";

const REPO = join(import.meta.dirname, "..", "..");
const FIXTURES = join(REPO, "test", "fixtures", "transcripts");
/** Fixed per scenario, so paths in the CLI's output are the same in every recording. */
const SCRATCH = join(tmpdir(), "asm-transcripts");

const PROVIDERS: { recordings: ProviderRecordings; harness: ProviderHarness }[] = [
  { recordings: claudeRecordings, harness: claudeHarness },
  { recordings: codexRecordings, harness: codexHarness },
  { recordings: geminiRecordings, harness: geminiHarness },
];

async function record(harness: ProviderHarness, provider: string, scenario: TranscriptScenario): Promise<string> {
  const root = join(SCRATCH, provider, scenario.name);
  rmSync(root, { recursive: true, force: true });
  const home = join(root, "home");
  const work = join(root, "work");
  mkdirSync(home, { recursive: true });
  mkdirSync(work, { recursive: true });
  const mock = await startMockModel(harness.mock);
  const log: Entry[] = [];
  const started: CliRecording[] = [];
  const { env } = harness.environment(mock, home);
  try {
    await scenario.run({
      mock,
      work,
      home,
      note: (text) => log.push({ dir: "!", text }),
      start(args, opts = {}) {
        const cli = new CliRecording(log, {
          name: provider,
          path: harness.cliPath,
          args,
          cwd: work,
          env: { PATH: systemPath(), ...env, ...opts.env },
          stdin: opts.stdin ?? "open",
        });
        started.push(cli);
        return cli;
      },
    });
    const strays = mock.unexpected.map((r) => `${r.method} ${r.url}`);
    if (strays.length > 0) throw new Error(`the CLI asked the mock for what it does not serve: ${strays.join(", ")}`);
  } finally {
    for (const cli of started) cli.killGroup();
    await mock.stop();
  }
  const normalizer = new TranscriptNormalizer({ scratch: root, port: mock.port, repoRoot: REPO });
  return log.map((e) => `${e.dir} ${normalizer.line(e.text)}`).join("\n") + "\n";
}

/** The provider folder's index: every scenario (recorded this time or not) and what it shows. */
function index(recordings: ProviderRecordings): string {
  const rows = recordings.scenarios.map((s) => `| \`${s.name}.log\` | ${s.shows} |`);
  return [
    `# ${recordings.provider} transcripts`,
    "",
    "Recorded by `make transcripts` from the pinned CLI (see ../README.md); the scenario scripts are",
    `\`test/transcripts/${recordings.provider}-scenarios.ts\`. This file is written by the recorder.`,
    "",
    "| file | what it shows |",
    "| --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

function selected(filters: string[], provider: string, scenario: string): boolean {
  return filters.length === 0 || filters.some((f) => f === provider || f === `${provider}/${scenario}`);
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  let count = 0;
  for (const { recordings, harness } of PROVIDERS) {
    const dir = join(FIXTURES, recordings.provider);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "README.md"), index(recordings));
    for (const scenario of recordings.scenarios) {
      if (!selected(filters, recordings.provider, scenario.name)) continue;
      const started = Date.now();
      const text = await record(harness, recordings.provider, scenario);
      writeFileSync(join(dir, `${scenario.name}.log`), text);
      count += 1;
      process.stdout.write(`${recordings.provider}/${scenario.name}: ${text.split("\n").length - 1} lines (${Date.now() - started} ms)\n`);
    }
  }
  if (count === 0) throw new Error(`no scenario matches ${filters.join(" ")}`);
  rmSync(SCRATCH, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`make transcripts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
