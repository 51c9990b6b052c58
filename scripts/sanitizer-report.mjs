// Reads the reports of a sanitizer run (scripts/sanitize.sh) and counts what the addon is
// responsible for: AddressSanitizer and UndefinedBehaviorSanitizer errors (any of them is ours:
// only the addon is instrumented), and LeakSanitizer leaks allocated by the addon: the first
// frame after the allocator is our code (native/*.cc, or node-addon-api compiled into it).
// Node's and V8's own allocations that live until exit are counted apart, also those made
// while our code was on the stack (V8's bookkeeping for the functions the addon registers).
// Writes build/reliability/sanitize.json.
//   node scripts/sanitizer-report.mjs REPORT-DIR ADDON VITEST-STATUS SECONDS TESTS
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [dir, addon, status, seconds, tests] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const files = readdirSync(dir);
const figures = { addon, vitestExit: Number(status), seconds: Number(seconds), tests: tests.split(/\s+/).filter(Boolean), reportFiles: files.length, asanErrors: 0, ubsanErrors: 0, leaksInAddon: 0, leaksElsewhere: 0, leaksElsewhereWithAddonOnStack: 0, processesWithLeakCheck: 0, problems: [] };

for (const file of files) {
  const text = readFileSync(join(dir, file), 'utf8');
  if (/ERROR: AddressSanitizer/.test(text)) {
    figures.asanErrors++;
    figures.problems.push(text.slice(0, 4000));
  }
  for (const m of text.matchAll(/runtime error:[^\n]*/g)) {
    figures.ubsanErrors++;
    figures.problems.push(m[0]);
  }
  if (/LeakSanitizer/.test(text)) figures.processesWithLeakCheck++;
  // One leak: "Direct leak of N byte(s) in M object(s) allocated from:" and its frames.
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/).filter((b) => /^(Direct|Indirect) leak of /.test(b))) {
    const frames = block.split('\n').filter((l) => /^\s*#\d+ /.test(l));
    const caller = frames.find((f) => !/asan_|operator new|\bmalloc\b|\bcalloc\b|\brealloc\b|\bstrdup\b/.test(f)) ?? '';
    if (/\/native\/|node-addon-api|socket_activation\.node/.test(caller)) {
      figures.leaksInAddon++;
      figures.problems.push(block.slice(0, 2000));
    } else {
      figures.leaksElsewhere++;
      if (block.includes('socket_activation')) figures.leaksElsewhereWithAddonOnStack++;
    }
  }
}

mkdirSync(join(root, 'build', 'reliability'), { recursive: true });
writeFileSync(join(root, 'build', 'reliability', 'sanitize.json'), `${JSON.stringify(figures, null, 2)}\n`);
console.log(`sanitize: ${JSON.stringify({ ...figures, problems: figures.problems.length })}`);
for (const p of figures.problems.slice(0, 5)) console.log(p);
process.exitCode = figures.vitestExit === 0 && figures.asanErrors === 0 && figures.ubsanErrors === 0 && figures.leaksInAddon === 0 ? 0 : 1;
