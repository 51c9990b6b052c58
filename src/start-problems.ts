// Why a child cannot start, said in terms of what the user gave (the command, the directory,
// the fd store) rather than what Node reports for the shell that starts it.
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Why a command cannot be started, and the status a shell would end with for it. */
export interface CommandProblem {
  readonly why: string;
  /** 127: not found (the command, or a script's interpreter); 126: found but not executable. */
  readonly status: 126 | 127;
}

// An executable file (as execve() needs), not a directory.
function runnable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// What dash and bash search when PATH is not set at all.
const SHELL_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Why `command` cannot be run from `cwd` with `PATH`, or undefined when it can as far as can be
 * told without running it: it exists, is an executable file, and its format is one execve()
 * takes (a `#!` line naming an interpreter that exists, a sound ELF header, a binfmt_misc
 * match). A file the shell would run as a script because execve() refused it (ENOEXEC) counts
 * as a problem: systemd does not run it either.
 */
export function commandProblem(command: string, cwd: string, path = process.env.PATH ?? SHELL_DEFAULT_PATH): CommandProblem | undefined {
  if (command.includes('/')) {
    const file = isAbsolute(command) ? command : join(cwd, command);
    let isFile: boolean;
    try {
      isFile = statSync(file).isFile();
    } catch {
      return { why: `${command} does not exist${isAbsolute(command) ? '' : ` (looked for in ${cwd})`}`, status: 127 };
    }
    if (!isFile) return { why: `${command} is not a file`, status: 126 };
    if (!runnable(file)) return { why: `${command} is not executable (chmod +x)`, status: 126 };
    return formatProblem(command, file, cwd);
  }
  const dirs = path.split(delimiter).map((d) => (d === '' ? '.' : d));
  const found = dirs.map((d) => join(isAbsolute(d) ? d : join(cwd, d), command)).find(runnable);
  if (found !== undefined) return formatProblem(command, found, cwd);
  return { why: `${command} was not found in PATH (${path || 'empty'})`, status: 127 };
}

// The kernel reads this much of a file to choose how to run it (BINPRM_BUF_SIZE).
const HEADER_BYTES = 256;

/** Why execve() would refuse the executable `file` (named `command` by the user) for its format. */
function formatProblem(command: string, file: string, cwd: string): CommandProblem | undefined {
  let head: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      head = Buffer.alloc(HEADER_BYTES);
      head = head.subarray(0, readSync(fd, head, 0, HEADER_BYTES, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    // Executable but not readable (mode 0111): only execve() can tell.
    return undefined;
  }
  if (head[0] === 0x23 && head[1] === 0x21) {
    // As the kernel's binfmt_script: blanks, then the interpreter up to a blank or the line end.
    const line = head.subarray(2, head.includes(0x0a) ? head.indexOf(0x0a) : head.length).toString('latin1');
    const interpreter = /^[ \t]*([^ \t]*)/.exec(line)![1]!;
    if (interpreter === '') return { why: `the #! line of ${command} names no interpreter`, status: 126 };
    // A carriage return is part of the name for the kernel: a script saved with CRLF line ends.
    const crlf = interpreter.endsWith('\r');
    const shown = /[\x00-\x1f\x7f-\xff]/.test(interpreter) ? JSON.stringify(interpreter) : interpreter;
    const fix = crlf ? ' (the #! line ends in a carriage return: the script has Windows line endings; convert it with dos2unix)' : '';
    const target = isAbsolute(interpreter) ? interpreter : join(cwd, interpreter);
    try {
      statSync(target);
    } catch {
      return { why: `interpreter ${shown} of ${command} was not found${fix}`, status: 127 };
    }
    return runnable(target) ? undefined : { why: `interpreter ${shown} of ${command} is not an executable file${fix}`, status: 126 };
  }
  const misc = binfmtMiscMatch(file, head);
  if (misc === true) return undefined;
  if (head.subarray(0, 4).equals(ELF_MAGIC)) {
    return elfRunnable(head) ? undefined : { why: `${command} is not an executable format (its ELF header is broken or not of a program: exec() fails with ENOEXEC)`, status: 126 };
  }
  // Elsewhere the programs are of other formats (Mach-O on macOS), which only execve() judges.
  if (process.platform !== 'linux') return undefined;
  // binfmt_misc unreadable (not mounted in most containers, though the host's entries apply):
  // only text with no extension is surely no format an entry takes (they match binary magic,
  // or a name's extension).
  if (misc === undefined && (head.includes(0) || /\.[^/.]+$/.test(file))) return undefined;
  return {
    why: `${command} is not an executable format: neither a program nor a script with a #! line (exec() fails with ENOEXEC; a shell would run it as a shell script, systemd does not): add a first line such as #!/bin/sh`,
    status: 126,
  };
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Whether an ELF header is whole and of an executable or a shared object (PIE), as execve() requires. */
function elfRunnable(head: Buffer): boolean {
  const elfClass = head[4];
  const data = head[5];
  if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) return false;
  if (head.length < (elfClass === 1 ? 52 : 64)) return false;
  const type = data === 1 ? head.readUInt16LE(16) : head.readUInt16BE(16);
  // ET_EXEC or ET_DYN; the machine is not checked: binfmt_misc (qemu-user) may run another's.
  return type === 2 || type === 3;
}

const BINFMT_MISC = '/proc/sys/fs/binfmt_misc';

/**
 * Whether an enabled binfmt_misc entry takes `file` (by magic or extension), so execve() runs
 * it; undefined when binfmt_misc cannot be read.
 */
function binfmtMiscMatch(file: string, head: Buffer): boolean | undefined {
  let entries: string[];
  try {
    if (!readFileSync(join(BINFMT_MISC, 'status'), 'latin1').startsWith('enabled')) return false;
    entries = readdirSync(BINFMT_MISC).filter((e) => e !== 'status' && e !== 'register');
  } catch {
    return undefined;
  }
  return entries.some((entry) => {
    let text: string;
    try {
      text = readFileSync(join(BINFMT_MISC, entry), 'latin1');
    } catch {
      return false;
    }
    if (!text.startsWith('enabled')) return false;
    const field = (name: string): string | undefined => new RegExp(`^${name} (.*)$`, 'm').exec(text)?.[1];
    const extension = field('extension');
    if (extension !== undefined) return file.endsWith(extension);
    const magic = Buffer.from(field('magic') ?? '', 'hex');
    const mask = Buffer.from(field('mask') ?? 'ff'.repeat(magic.length), 'hex');
    const offset = Number(field('offset') ?? 0);
    if (magic.length === 0 || head.length < offset + magic.length) return false;
    return magic.every((b, i) => (head[offset + i]! & (mask[i] ?? 0xff)) === (b & (mask[i] ?? 0xff)));
  });
}

// The supervisor's children start in the directory it was started in, by that name.
const SUPERVISOR_HINT = 'children start where the supervisor was started, by that name: was that directory removed or replaced?';

/** What stands in the way of `cwd` as a working directory, or undefined; `hint` says where it came from. */
export function directoryProblem(cwd: string, hint = SUPERVISOR_HINT): string | undefined {
  try {
    if (!statSync(cwd).isDirectory()) return `its working directory ${cwd} is not a directory`;
    accessSync(cwd, constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be entered' : `cannot be used (${code})`;
    return `its working directory ${cwd} ${what} (${hint})`;
  }
}

/** The soft RLIMIT_NOFILE of this process (Linux: /proc/self/limits), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
