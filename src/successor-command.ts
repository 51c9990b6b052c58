// The command line and working directory a hot upgrade starts its successor with, by default
// (and the directory the supervisor starts each child in): this process's own, as it was
// started, so that a release switch made since takes effect — `/srv/web/current` →
// `releases/v2` while this process runs in `releases/v1`. The kernel keeps only the real
// directory (getcwd() says releases/v1), and Node has made the script path absolute against
// it, so the names this process was started with are recovered once, at start-up (when
// hotUpgrade() is called, or the supervisor made), before any switch.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

interface Start {
  /** The real working directory at start-up. */
  readonly cwd: string;
  /** A name of it through symlinks, when one is known: $PWD, or a directory above an absolute script path. */
  readonly named: string | undefined;
  /** The script argument as given (relative ones stay relative): process.argv[1] when it cannot be read back. */
  readonly script: string | undefined;
  /** Variables the start-up added to the environment it was given (--env-file, dotenv), with their values. */
  readonly added: ReadonlyMap<string, string>;
}

let start: Start | undefined;

function resolvesTo(path: string, real: string): boolean {
  try {
    return realpathSync(path) === real;
  } catch {
    return false;
  }
}

// systemd does not put WorkingDirectory= in $PWD, but ExecStart=/usr/bin/node /srv/web/current/web.mjs
// with WorkingDirectory=/srv/web/current names it through the script.
function namedCwd(cwd: string, script: string | undefined): string | undefined {
  const candidates: string[] = [];
  const pwd = process.env.PWD;
  if (pwd && isAbsolute(pwd)) candidates.push(pwd);
  if (script && isAbsolute(script)) {
    for (let dir = dirname(script); dir !== dirname(dir); dir = dirname(dir)) candidates.push(dir);
  }
  return candidates.find((c) => c !== cwd && resolvesTo(c, cwd));
}

// /proc/self/cmdline holds argv as given: [node, ...execArgv, script, ...args]. The script is
// taken back only if it is what Node resolved process.argv[1] from (a changed process.title
// rewrites that memory).
function scriptAsGiven(cwd: string): string | undefined {
  const main = process.argv[1];
  if (main === undefined) return undefined;
  try {
    const argv = readFileSync('/proc/self/cmdline', 'latin1').split('\0').slice(0, -1);
    const given = argv[argv.length - (process.argv.length - 2) - 1];
    return given !== undefined && resolve(cwd, given) === main ? given : main;
  } catch {
    return main;
  }
}

// /proc/self/environ holds the environment exec() gave this process, which setenv() leaves as
// it was: what process.env has beyond it, the start-up put there — Node's --env-file, dotenv
// imported first. Neither overrides a variable that is set, so a successor given those values
// would never see the files as they are now (a changed .env would be ignored by an upgrade).
function startupAdditions(): Map<string, string> {
  let given: string;
  try {
    given = readFileSync('/proc/self/environ', 'utf8');
  } catch {
    return new Map();
  }
  const names = new Set(given.split('\0').map((entry) => entry.slice(0, Math.max(0, entry.indexOf('=')))));
  return new Map(Object.entries(process.env).filter((e): e is [string, string] => !names.has(e[0]) && e[1] !== undefined));
}

/** Remembers how this process was started (once, at start-up: before a release switch). @internal */
export function rememberStart(): void {
  if (start) return;
  const cwd = process.cwd();
  const script = scriptAsGiven(cwd);
  start = { cwd, named: namedCwd(cwd, script), script, added: startupAdditions() };
}

/**
 * What the successor's environment leaves out of this one: the variables this process's start-up
 * added (loaded from --env-file files, or by dotenv, before hotUpgrade() was called) and that
 * still hold those values, so that its own start-up loads them anew from the files as they are
 * now, as a fresh start would. A variable the app has changed since is passed on.
 * @internal
 */
export function successorEnvironmentRemovals(): Record<string, undefined> {
  rememberStart();
  return Object.fromEntries([...start!.added].filter(([name, value]) => process.env[name] === value).map(([name]) => [name, undefined]));
}

function currentCwd(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined; // removed (a release cleaned up): still the start-up one
  }
}

/**
 * The successor's working directory: the symlinked name this process started in, resolved anew
 * by the shell that starts the successor — unless this process has changed directory since.
 * @internal
 */
export function successorCwd(): string {
  rememberStart();
  const now = currentCwd();
  if (now !== undefined && now !== start!.cwd) return now;
  return start!.named ?? start!.cwd;
}

/**
 * The successor's command line: this Node binary, its flags, the script and the arguments. A
 * script given as a relative path stays relative where it exists under the successor's working
 * directory `cwd` (so it is the new release's), else it is the absolute path this process runs.
 * @internal
 */
export function successorCommand(cwd: string): readonly string[] {
  rememberStart();
  const given = start!.script;
  const script = given !== undefined && !isAbsolute(given) && existsSync(resolve(cwd, given)) ? given : process.argv[1];
  return [process.execPath, ...process.execArgv, ...(script === undefined ? [] : [script]), ...process.argv.slice(2)];
}
