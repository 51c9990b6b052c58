// Reads the logs of a valgrind run (scripts/valgrind.sh) and counts what the addon is
// responsible for: memcheck errors and leak records with a frame in socket_activation.node.
// Everything else (node's and V8's own) is counted apart. Writes build/reliability/valgrind.json.
//   node scripts/valgrind-report.mjs LOG-DIR VITEST-STATUS SECONDS TESTS
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [dir, status, seconds, tests] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const figures = { vitestExit: Number(status), seconds: Number(seconds), tests: tests.split(/\s+/).filter(Boolean), processes: 0, processesWithAddon: 0, errorsInAddon: 0, leaksInAddon: 0, errorsElsewhere: 0, leaksElsewhere: 0, problems: [] };

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
    const ours = block.includes('socket_activation');
    if (leak) ours ? figures.leaksInAddon++ : figures.leaksElsewhere++;
    else ours ? figures.errorsInAddon++ : figures.errorsElsewhere++;
    if (ours) figures.problems.push(block.slice(0, 3000));
  }
}

mkdirSync(join(root, 'build', 'reliability'), { recursive: true });
writeFileSync(join(root, 'build', 'reliability', 'valgrind.json'), `${JSON.stringify(figures, null, 2)}\n`);
console.log(`valgrind: ${JSON.stringify({ ...figures, problems: figures.problems.length })}`);
for (const p of figures.problems.slice(0, 5)) console.log(p);
process.exitCode = figures.vitestExit === 0 && figures.errorsInAddon === 0 && figures.leaksInAddon === 0 && figures.processesWithAddon > 0 ? 0 : 1;
