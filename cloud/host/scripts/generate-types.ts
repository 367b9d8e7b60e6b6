/**
 * Generates src/generated/*.ts from the workers' committed JSON Schema (cloud/workers/schema/).
 *
 *   npm run generate            # rewrite src/generated/
 *   npm run generate -- --check # exit 1 if src/generated/ differs from the schema
 *
 * The Python models are the source of truth: `python3 cloud/workers/schema.py` writes the
 * schema, this script turns each schema file into one TypeScript module, and
 * test/types-drift.test.ts fails when the committed modules are stale.
 */
import { readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { compile, type JSONSchema } from "json-schema-to-typescript";

const HERE = dirname(fileURLToPath(import.meta.url));
export const SCHEMA_DIR = resolve(HERE, "../../workers/schema");
export const GENERATED_DIR = resolve(HERE, "../src/generated");
const SCHEMA_SUFFIX = ".schema.json";
const CONTRACT_VERSION_MODULE = "contract-version.ts";

/** `probe.output.schema.json` -> `probe.output.ts` */
export function moduleName(schemaFile: string): string {
  return basename(schemaFile, SCHEMA_SUFFIX) + ".ts";
}

/** Module file name -> its text, for every schema file. */
export async function generateAll(schemaDir: string = SCHEMA_DIR): Promise<Map<string, string>> {
  const files = (await readdir(schemaDir)).filter((name) => name.endsWith(SCHEMA_SUFFIX)).sort();
  if (files.length === 0) throw new Error(`no *${SCHEMA_SUFFIX} files in ${schemaDir}`);
  const modules = new Map<string, string>();
  const versions = new Set<string>();
  for (const file of files) {
    const schema = JSON.parse(await readFile(join(schemaDir, file), "utf8")) as JSONSchema;
    versions.add(String(schema["x-contract-version"]));
    const text = await compile(schema, String(schema.title ?? basename(file, SCHEMA_SUFFIX)), {
      bannerComment: [
        "/* eslint-disable */",
        `/* Generated from cloud/workers/schema/${file} by \`npm run generate\` (cloud/host): do not edit. */`,
      ].join("\n"),
      // The workers print exactly these fields; an index signature would hide typos.
      additionalProperties: false,
      declareExternallyReferenced: true,
      strictIndexSignatures: true,
      format: true,
      cwd: schemaDir,
    });
    modules.set(moduleName(file), text);
  }
  if (versions.size !== 1) throw new Error(`the schema files disagree on x-contract-version: ${[...versions]}`);
  const [version] = versions;
  modules.set(
    CONTRACT_VERSION_MODULE,
    [
      `/* Generated from the x-contract-version of cloud/workers/schema/ by \`npm run generate\` (cloud/host): do not edit. */`,
      "",
      "/** The `contractVersion` every document of these workers carries; compare it to detect a mismatched worker. */",
      `export const CONTRACT_VERSION = ${JSON.stringify(version)};`,
      "",
    ].join("\n"),
  );
  return modules;
}

/** One line per module that is missing, differs, or has no schema any more. */
export async function drift(
  generatedDir: string = GENERATED_DIR,
  schemaDir: string = SCHEMA_DIR,
): Promise<string[]> {
  const expected = await generateAll(schemaDir);
  const present = new Set((await readdir(generatedDir).catch(() => [] as string[])).filter((n) => n.endsWith(".ts")));
  const problems: string[] = [];
  for (const [name, text] of expected) {
    if (!present.has(name)) problems.push(`${name}: missing`);
    else if ((await readFile(join(generatedDir, name), "utf8")) !== text) problems.push(`${name}: differs from the schema`);
  }
  for (const name of [...present].sort()) {
    if (!expected.has(name)) problems.push(`${name}: no schema file any more`);
  }
  return problems;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--check")) {
    const problems = await drift();
    for (const line of problems) console.error(`type drift: ${line}`);
    if (problems.length > 0) {
      console.error("run `npm run generate` in cloud/host and commit src/generated/");
      return 1;
    }
    console.log("generated types up to date");
    return 0;
  }
  const modules = await generateAll();
  await mkdir(GENERATED_DIR, { recursive: true });
  for (const name of await readdir(GENERATED_DIR)) {
    if (name.endsWith(".ts") && !modules.has(name)) await rm(join(GENERATED_DIR, name));
  }
  for (const [name, text] of modules) {
    await writeFile(join(GENERATED_DIR, name), text);
    console.log(`wrote src/generated/${name}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
