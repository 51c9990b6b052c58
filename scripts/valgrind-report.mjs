// Reads the logs of a valgrind run (scripts/valgrind.sh) and counts what the addon is
// responsible for: memcheck errors with a frame in socket_activation.node, and leak records
// allocated by it — the first frame after the allocator is the addon's, the rule of the
// sanitizer report. Node's and V8's own are counted apart, also those made while the addon was
// on the stack (listed, so each can be looked at). Writes build/reliability/valgrind.json.
//   node scripts/valgrind-report.mjs LOG-DIR VITEST-STATUS SECONDS TESTS
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [dir, status, seconds, tests] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const figures = { vitestExit: Number(status), seconds: Number(seconds), tests: tests.split(/\s+/).filter(Boolean), processes: 0, processesWithAddon: 0, errorsInAddon: 0, leaksInAddon: 0, errorsElsewhere: 0, leaksElsewhere: 0, leaksElsewhereWithAddonOnStack: [], problems: [] };

for (const file of readdirSync(dir)) {
  const text = readFileSync(join(dir, file), 'utf8');
  figures.processes++;
  if (/Reading syms from \S*socket_activation\.node/.test(text)) figures.processesWithAddon++;
  // Blocks are separated by a line holding only the "==PID==" prefix.
  const lines = text.split('\n').map((l) => l.replace(/^==\d+== ?/, ''));
  const blocks = [];
  let current = [];
  for (const line of lines) {
    if (line.trim() === '') {
      if (current.length) blocks.push(current.join('\n'));
      current = [];
    } else current.push(line);
  }
  if (current.length) blocks.push(current.join('\n'));
  for (const block of blocks) {
    const first = block.split('\n')[0];
    const leak = /are (definitely|indirectly|possibly) lost in loss record/.test(first);
    const error = /^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument '|Invalid or mismatching|Jump to the invalid)/.test(first);
    if (!leak && !error) continue;
    const frames = block.split('\n').filter((l) => /^\s*(at|by) 0x/.test(l));
    const caller = frames.find((f) => !/vgpreload_memcheck|operator new|\bmalloc\b|\bcalloc\b|\brealloc\b|\bstrdup\b/.test(f)) ?? '';
    const ours = leak ? caller.includes('socket_activation') : block.includes('socket_activation');
    if (leak) ours ? figures.leaksInAddon++ : figures.leaksElsewhere++;
    else ours ? figures.errorsInAddon++ : figures.errorsElsewhere++;
    if (ours) figures.problems.push(block.slice(0, 3000));
    else if (leak && block.includes('socket_activation')) figures.leaksElsewhereWithAddonOnStack.push(`${first} — allocated in ${caller.trim()}`);
  }
}

mkdirSync(join(root, 'build', 'reliability'), { recursive: true });
writeFileSync(join(root, 'build', 'reliability', 'valgrind.json'), `${JSON.stringify(figures, null, 2)}\n`);
console.log(`valgrind: ${JSON.stringify({ ...figures, problems: figures.problems.length })}`);
for (const l of figures.leaksElsewhereWithAddonOnStack) console.log(`not ours, addon on the stack: ${l}`);
for (const p of figures.problems.slice(0, 5)) console.log(p);
process.exitCode = figures.vitestExit === 0 && figures.errorsInAddon === 0 && figures.leaksInAddon === 0 && figures.processesWithAddon > 0 ? 0 : 1;
