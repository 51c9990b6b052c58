import { SocketActivationError } from './errors.js';

/** The variables the service manager sets; all of them are removed by `unsetEnvironment`. */
export const LISTEN_VARIABLES = ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/** First inherited fd (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** libsystemd's upper bound: n > INT_MAX - 3 is -EINVAL. */
export const MAX_LISTEN_FDS = 0x7fffffff - LISTEN_FDS_START;

/** What the environment alone says, before any fd is looked at. */
export type EnvironmentVerdict =
  | { readonly activated: true; readonly listenPid: number; readonly count: number; readonly rawNames: string | undefined }
  | { readonly activated: false; readonly why: 'absent'; readonly missing: 'LISTEN_PID' | 'LISTEN_FDS' }
  | { readonly activated: false; readonly why: 'pid-mismatch'; readonly listenPid: number }
  | { readonly activated: false; readonly why: 'pidfd-mismatch'; readonly listenPid: number; readonly pidfdId: bigint };

/** What this process knows about itself, injected so the rules stay pure and testable. */
export interface Self {
  readonly pid: number;
  /** The inode of a pidfd for this process where it identifies it (pidfs), else undefined. */
  pidfdId(): bigint | undefined;
}

const decimal = /^(0|[1-9][0-9]*)$/;

// Stricter than libsystemd's safe_atoi/parse_pid, which skip leading white space and take
// 0x…/0… (hex/octal) prefixes: a manager only ever writes plain decimal, so anything else
// is a broken environment and is reported instead of being guessed at. A safe integer
// that prints back as the very same text is plain decimal (no sign, space, prefix, leading
// zero, exponent or fraction); unlike `decimal`, this needs no regular expression compiled
// on the clock of every activated start. Like every function that listeners() always
// calls, it is compiled with the module (parenthesized: see judge() in registry.ts).
const parseDecimal = (function parseDecimal(variable: string, value: string, what: string, max: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || String(n) !== value || n < 1 || n > max) {
    const fix =
      variable === 'LISTEN_FDS'
        ? 'The service manager sets it to how many fds it passed at 3, 4, …; a launcher that sets it by hand must write that count.'
        : 'The service manager sets it to the pid it started; a launcher that sets it by hand must write the started process\'s own pid.';
    throw new SocketActivationError(
      variable === 'LISTEN_FDS' ? 'ERR_LISTEN_FDS' : 'ERR_LISTEN_PID',
      `${variable} must be ${what} (plain decimal, 1 to ${max}); found ${JSON.stringify(value)}. ${fix}`,
      { variable, found: value },
    );
  }
  return n;
});

/**
 * Applies sd_listen_fds()'s rules to an environment, in libsystemd's order:
 * LISTEN_PID absent → not activated; unparsable → ERR_LISTEN_PID; another pid → not
 * activated; LISTEN_PIDFDID set → must parse (ERR_LISTEN_PIDFDID) and, where this process's
 * pidfd id is known, match; LISTEN_FDS absent → not activated; unparsable, ≤ 0 or over
 * INT_MAX−3 → ERR_LISTEN_FDS.
 */
export const judgeEnvironment = (function judgeEnvironment(env: NodeJS.ProcessEnv, self: Self): EnvironmentVerdict {
  const pidText = env.LISTEN_PID;
  if (pidText === undefined) return { activated: false, why: 'absent', missing: 'LISTEN_PID' };
  const listenPid = parseDecimal('LISTEN_PID', pidText, 'a process id', 0x7fffffff);
  if (listenPid !== self.pid) return { activated: false, why: 'pid-mismatch', listenPid };

  const pidfdText = env.LISTEN_PIDFDID;
  if (pidfdText !== undefined) {
    if (!decimal.test(pidfdText) || BigInt(pidfdText) > 0xffffffffffffffffn) {
      throw new SocketActivationError(
        'ERR_LISTEN_PIDFDID',
        `LISTEN_PIDFDID must be the decimal inode number of the started process's pidfd; found ${JSON.stringify(pidfdText)}. Unset it, or let the service manager set it.`,
        { variable: 'LISTEN_PIDFDID', found: pidfdText },
      );
    }
    const own = self.pidfdId();
    if (own !== undefined && own !== BigInt(pidfdText)) {
      return { activated: false, why: 'pidfd-mismatch', listenPid, pidfdId: BigInt(pidfdText) };
    }
  }

  const fdsText = env.LISTEN_FDS;
  if (fdsText === undefined) return { activated: false, why: 'absent', missing: 'LISTEN_FDS' };
  const count = parseDecimal('LISTEN_FDS', fdsText, 'the number of inherited fds', MAX_LISTEN_FDS);
  return { activated: true, listenPid, count, rawNames: env.LISTEN_FDNAMES };
});

/**
 * Splits LISTEN_FDNAMES as libsystemd does: on `:`, empty fields kept (`a::b` is three
 * names); absent means every fd is `unknown`.
 *
 * @throws ERR_LISTEN_FDNAMES when the number of names differs from LISTEN_FDS.
 */
export const splitNames = (function splitNames(rawNames: string | undefined, count: number): string[] {
  if (rawNames === undefined) return new Array<string>(count).fill('unknown');
  const names = rawNames.split(':');
  if (names.length !== count) {
    throw new SocketActivationError(
      'ERR_LISTEN_FDNAMES',
      `LISTEN_FDNAMES has ${names.length} name${names.length === 1 ? '' : 's'} (${JSON.stringify(rawNames)}) but LISTEN_FDS is ${count}: ` +
        'there must be exactly one name per fd (fields may be empty). Fix FileDescriptorName= or the launcher that set them.',
      { variable: 'LISTEN_FDNAMES', expected: count, found: names.length },
    );
  }
  return names;
});
