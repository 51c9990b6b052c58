// Why a child cannot start, said in terms of what the user gave (the command, the directory,
// the fd store) rather than what Node reports for the shell that starts it.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * Why `command` cannot be run from `cwd` with `PATH`, or undefined when it can (as far as
 * access(X_OK) tells: a script's interpreter may still be missing, which the shell reports).
 */
// What dash and bash search when PATH is not set at all.
const SHELL_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function commandProblem(command: string, cwd: string, path = process.env.PATH ?? SHELL_DEFAULT_PATH): string | undefined {
  const runnable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) {
    const file = isAbsolute(command) ? command : join(cwd, command);
    let isFile: boolean;
    try {
      isFile = statSync(file).isFile();
    } catch {
      return `${command} does not exist${isAbsolute(command) ? '' : ` (looked for in ${cwd})`}`;
    }
    if (!isFile) return `${command} is not a file`;
    return runnable(file) ? undefined : `${command} is not executable (chmod +x)`;
  }
  const dirs = path.split(delimiter).map((d) => (d === '' ? '.' : d));
  if (dirs.some((d) => runnable(join(isAbsolute(d) ? d : join(cwd, d), command)))) return undefined;
  return `${command} was not found in PATH (${path || 'empty'})`;
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
