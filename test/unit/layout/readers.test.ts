// Every file the project reads goes through one bounded reader (issue 23): src/runtime/node/read.ts.
// This test enumerates the readers from the sources with TypeScript's type checker, so an alias
// (`promises as fs`), a destructured dynamic import or a FileHandle method is found as surely as a
// plain `readFile`: any call that resolves to one of Node's fs read functions outside the reader
// module fails it, and so does handing sharp a path (libvips would open a FIFO or /dev/zero itself).
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Node fs functions and FileHandle methods that bring a file's bytes into the process. */
const READS = new Set([
  'readFile', 'readFileSync', 'createReadStream', 'read', 'readSync', 'readv', 'readvSync', 'openAsBlob', 'readLines',
  'readableWebStream', 'open', 'openSync',
]);
const READER_MODULE = join('src', 'runtime', 'node', 'read.ts');
const NODE_FS = /[\\/]@types[\\/]node[\\/]fs(?:[\\/]promises)?\.d\.ts$/;
const SHARP = /[\\/]node_modules[\\/]sharp[\\/]/;

/** `open`/`openSync` with a literal write-only flag ('a', 'w', 'ax', 'wx') opens a file to write it: not a read. */
function opensToWrite(call: ts.CallExpression): boolean {
  const flag = call.arguments[1];
  return flag !== undefined && ts.isStringLiteralLike(flag) && /^[aw]x?$/.test(flag.text);
}

function isStringLike(t: ts.Type): boolean {
  if (t.isUnion()) return t.types.some(isStringLike);
  return (t.flags & ts.TypeFlags.StringLike) !== 0;
}

/** Each direct read, and each sharp call given a path, in `files` of `program`: 'file:line: what'. */
function directReads(program: ts.Program, files: readonly string[], root: string): string[] {
  const checker = program.getTypeChecker();
  const found: string[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`${file} is not in the program`);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
        const decl = checker.getResolvedSignature(node)?.declaration;
        const where = `${relative(root, file)}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;
        const declFile = decl?.getSourceFile().fileName ?? '';
        const name = decl && 'name' in decl && decl.name && ts.isIdentifier(decl.name as ts.Node) ? (decl.name as ts.Identifier).text : '';
        if (NODE_FS.test(declFile) && READS.has(name) && !(ts.isCallExpression(node) && ['open', 'openSync'].includes(name) && opensToWrite(node))) {
          found.push(`${where}: fs ${name}`);
        }
        const first = node.arguments?.[0];
        // sharp(input, options) itself, not the methods of the object it returns.
        const isSharp = SHARP.test(declFile) && decl !== undefined
          && (ts.isFunctionDeclaration(decl) || ts.isCallSignatureDeclaration(decl) || ts.isConstructSignatureDeclaration(decl));
        if (isSharp && first && isStringLike(checker.getTypeAtLocation(first))) found.push(`${where}: sharp(path)`);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

function projectProgram(): { program: ts.Program; sources: string[] } {
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d: ts.Diagnostic) => { throw new Error(String(d.messageText)); } };
  const config = ts.getParsedCommandLineOfConfigFile('tsconfig.json', {}, host)!;
  const src = resolve('src');
  const sources = config.fileNames.map((f) => resolve(f)).filter((f) => f.startsWith(src + '/') && !f.endsWith('.d.ts'));
  return { program: ts.createProgram(sources, { ...config.options, noEmit: true }), sources };
}

describe('file readers', () => {
  const { program, sources } = projectProgram();

  it('finds every kind of direct read it looks for (the check itself can fail)', () => {
    // The same checker over a file with one of each: each must be reported.
    const probe = resolve('src', '__readers_probe__.ts');
    const text = [
      "import { promises as fs, readFileSync, createReadStream, openSync } from 'node:fs';",
      "import { open } from 'node:fs/promises';",
      "import sharp from 'sharp';",
      'export async function probe(p: string, bytes: Uint8Array) {',
      '  await fs.readFile(p);', //                              5
      '  readFileSync(p);', //                                   6
      '  createReadStream(p);', //                               7
      '  const fh = await open(p);', //                          8
      '  await fh.read(bytes, 0, 1, 0);', //                     9
      "  const { readFile } = await import('node:fs/promises');", // 10
      "  await readFile(p, 'utf8');", //                         11
      '  await sharp(p).metadata();', //                         12
      "  await sharp(bytes).toColourspace('srgb').toBuffer();", // 13: bytes (and a method's string), fine
      "  openSync(p, 'a');", //                                  14: opened to append, fine
      "  openSync(p, 'r+');", //                                 15
      '}',
    ].join('\n');
    const base = ts.createCompilerHost(program.getCompilerOptions());
    const host: ts.CompilerHost = {
      ...base,
      getSourceFile: (f, lang) => (resolve(f) === probe ? ts.createSourceFile(f, text, lang) : base.getSourceFile(f, lang)),
      fileExists: (f) => resolve(f) === probe || base.fileExists(f),
    };
    const probeProgram = ts.createProgram([probe], program.getCompilerOptions(), host, program);
    const lines = directReads(probeProgram, [probe], resolve('.')).map((s) => s.replace(/^.*?:(\d+): /, '$1 '));
    expect(lines).toEqual(['5 fs readFile', '6 fs readFileSync', '7 fs createReadStream', '8 fs open', '9 fs read', '11 fs readFile', '12 sharp(path)', '15 fs openSync']);
  });

  it('src/ reads files only through src/runtime/node/read.ts', () => {
    expect(sources.length).toBeGreaterThan(100);
    expect(sources).toContain(resolve(READER_MODULE));
    const reads = directReads(program, sources.filter((f) => f !== resolve(READER_MODULE)), resolve('.'));
    expect(reads).toEqual([]);
    // And the reader module is where the reads are.
    expect(directReads(program, [resolve(READER_MODULE)], resolve('.')).length).toBeGreaterThan(0);
  });
});
