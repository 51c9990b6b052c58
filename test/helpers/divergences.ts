// The allow-list of the differential fuzz tests: the only ways the package may answer
// differently from Debian 12's libsystemd (252) on the same environment and fds. Each rule
// names where it is documented and checks that our answer is the one our own documented rule
// gives, so an allowed divergence can never hide a wrong answer. Every other difference is a
// failure of the test.
import { asEnvString } from './harness.js';

export type Rule =
  /**
   * README "Compared with libsystemd", stricter 1: numbers are plain decimal. libsystemd's
   * safe_atoi/parse_pid/safe_atou64 skip leading white space and take +, 0x, 0, 0o, 0b; we
   * refuse them (ERR_LISTEN_PID, ERR_LISTEN_FDS, ERR_WATCHDOG_USEC, ERR_WATCHDOG_PID).
   */
  | 'strict-decimal'
  /**
   * README stricter 2: an fd that is one of Node's own kinds (eventfd, epoll, a pipe whose
   * other end this process holds) is refused as ERR_LISTEN_FDS_NOT_INHERITED, where libsystemd
   * hands it out. FD_CLOEXEC is then set on the fds before it only.
   */
  | 'runtime-fd'
  /**
   * README "Same": LISTEN_PIDFDID is checked as libsystemd ≥ 258 does (must parse; a different
   * pidfd id means not activated; removed by unsetEnvironment). libsystemd 252 predates it
   * and ignores the variable.
   */
  | 'pidfdid'
  /**
   * RELIABILITY.md: an empty NOTIFY_SOCKET or WATCHDOG_USEC means "not set" here (the shell
   * idiom VAR= to switch it off); libsystemd reports -EINVAL.
   */
  | 'empty-is-unset'
  /**
   * README "Notify": vsock:, vsock-stream:, vsock-dgram:, vsock-seqpacket: addresses are
   * parsed as libsystemd ≥ 254 does; libsystemd 252 has no AF_VSOCK notify and refuses them.
   */
  | 'vsock'
  /**
   * RELIABILITY.md: LISTEN_FDNAMES is split at ':' only. libsystemd's splitter (extract_first_word)
   * also reads '\\' as an escape: a\\b becomes ab, a\\:b one name a:b, a trailing '\\' an
   * error. The manager joins names with ':' without escaping anything, so we keep what it wrote.
   */
  | 'fdnames-backslash'
  /**
   * RELIABILITY.md: Node decodes the environment as UTF-8 (process.env), so bytes that are
   * not UTF-8 reach the package as U+FFFD; libsystemd sees the raw bytes.
   */
  | 'non-utf8';

export type Verdict = { readonly same: true } | { readonly same: false; readonly rule: Rule } | { readonly same: false; readonly rule?: undefined; readonly why: string };

const EBADF = -9;
const EINVAL = -22;
const ERANGE = -34;
const PLAIN_DECIMAL = /^(0|[1-9][0-9]*)$/;

const same: Verdict = { same: true };
const allowed = (rule: Rule): Verdict => ({ same: false, rule });
const divergent = (why: string): Verdict => ({ same: false, why });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Our answer for one LISTEN_* case, from the pure rules or from activation() in a process. */
export type OurListen =
  | { readonly outcome: 'activated'; readonly names: readonly string[] }
  | { readonly outcome: 'not-activated'; readonly reason: string }
  | { readonly outcome: 'error'; readonly code: string; readonly fd?: number };

/** libsystemd's answer: sd_listen_fds_with_names()'s return value and names (raw bytes). */
export interface TheirListen {
  readonly r: number;
  readonly names: readonly Uint8Array[] | null;
  readonly pidfdId: string;
}

/** The environment of the case as each side read it. */
export interface ListenInput {
  readonly kinds: string;
  /** Instantiated variable bytes, as the process had them. */
  readonly env: Readonly<Record<string, Buffer | undefined>>;
}

const errnosOf: Record<string, readonly number[]> = {
  ERR_LISTEN_PID: [EINVAL, ERANGE],
  ERR_LISTEN_FDS: [EINVAL, ERANGE],
  ERR_LISTEN_FDNAMES: [EINVAL],
  ERR_LISTEN_FDS_NOT_INHERITED: [EBADF],
};

const RUNTIME_KINDS = new Set(['e', 'E']);

/**
 * Whether fd `fd` of the case is one our rule refuses as the runtime's own when LISTEN_FDS
 * claims `claimed` fds: an eventfd, an epoll fd, or a pipe another fd of the process outside the
 * claimed range also refers to (its other end, or a copy). Ends that are all claimed are a pipe
 * passed whole (src/registry.ts).
 */
export function isRuntimeKind(kinds: string, fd: number, claimed: number): boolean {
  const kind = kinds[fd - 3];
  if (kind === undefined) return false;
  if (RUNTIME_KINDS.has(kind)) return true;
  return (kind === 'r' || kind === 'w') && [...kinds].some((k, i) => (k === 'r' || k === 'w') && i !== fd - 3 && i >= claimed);
}

/**
 * FD_CLOEXEC as our own rule sets it once LISTEN_FDS=n is accepted: on every claimed fd before
 * the first one that was not inherited (a hole, past the fds passed, or one of Node's own kinds).
 */
export function ourCloexec(kinds: string, n: number): number[] {
  const fds: number[] = [];
  for (let fd = 3; fd < 3 + n; fd++) {
    if (fd - 3 >= kinds.length || kinds[fd - 3] === 'h' || isRuntimeKind(kinds, fd, n)) break;
    fds.push(fd);
  }
  return fds;
}

/** libsystemd refuses LISTEN_FDNAMES ending in an unpaired backslash before it looks at anything else. */
export function namesEndInEscape(rawNames: string | undefined): boolean {
  return rawNames !== undefined && /(^|[^\\])(\\\\)*\\$/.test(rawNames);
}

/** Compares the decisions (activated with names / not activated / error) of both sides. */
export function compareListen(input: ListenInput, ours: OurListen, theirs: TheirListen): Verdict {
  const text = (name: string) => (input.env[name] === undefined ? undefined : asEnvString(input.env[name]!));
  const pidfdText = text('LISTEN_PIDFDID');

  // LISTEN_PIDFDID, which libsystemd 252 ignores: our answer must follow our own rule.
  if (ours.outcome === 'error' && ours.code === 'ERR_LISTEN_PIDFDID') {
    const valid = pidfdText !== undefined && PLAIN_DECIMAL.test(pidfdText) && BigInt(pidfdText) <= 0xffff_ffff_ffff_ffffn;
    return pidfdText !== undefined && !valid ? allowed('pidfdid') : divergent(`ERR_LISTEN_PIDFDID for LISTEN_PIDFDID=${JSON.stringify(pidfdText)}`);
  }
  if (ours.outcome === 'not-activated' && ours.reason === 'pidfd-mismatch') {
    return pidfdText !== undefined && PLAIN_DECIMAL.test(pidfdText) && pidfdText !== theirs.pidfdId
      ? allowed('pidfdid')
      : divergent(`pidfd-mismatch for LISTEN_PIDFDID=${JSON.stringify(pidfdText)}, own id ${theirs.pidfdId}`);
  }

  let why: string | undefined;
  switch (ours.outcome) {
    case 'activated': {
      const theirNames = theirs.names?.map((n) => asEnvString(n));
      if (theirs.r !== ours.names.length) why = `we activated ${ours.names.length} fds, libsystemd returned ${theirs.r}`;
      else if (JSON.stringify(theirNames) !== JSON.stringify(ours.names)) {
        const raw = input.env.LISTEN_FDNAMES;
        if (raw !== undefined && !isUtf8(raw)) return allowed('non-utf8');
        why = `names ${JSON.stringify(ours.names)} ≠ ${JSON.stringify(theirNames)}`;
      }
      break;
    }
    case 'not-activated':
      if (theirs.r !== 0) why = `not activated (${ours.reason}), libsystemd returned ${theirs.r}`;
      break;
    case 'error':
      if (!(errnosOf[ours.code] ?? []).includes(theirs.r)) why = `${ours.code}, libsystemd returned ${theirs.r}`;
      break;
  }
  if (why === undefined) return same;

  const rawNames = text('LISTEN_FDNAMES');
  // libsystemd splits LISTEN_FDNAMES before anything else: an unpaired trailing backslash is -EINVAL even unactivated.
  if (namesEndInEscape(rawNames) && theirs.r === EINVAL) return allowed('fdnames-backslash');
  if (rawNames?.includes('\\')) {
    if (ours.outcome === 'activated' && ours.names.join(':') === rawNames) return allowed('fdnames-backslash');
    if (ours.outcome === 'error' && ours.code === 'ERR_LISTEN_FDNAMES') return allowed('fdnames-backslash');
  }

  if (ours.outcome === 'error') {
    const variable = ours.code === 'ERR_LISTEN_PID' ? 'LISTEN_PID' : ours.code === 'ERR_LISTEN_FDS' ? 'LISTEN_FDS' : undefined;
    const value = variable && text(variable);
    if (value !== undefined && !PLAIN_DECIMAL.test(value)) return allowed('strict-decimal');
    if (ours.code === 'ERR_LISTEN_FDS_NOT_INHERITED' && ours.fd !== undefined && isRuntimeKind(input.kinds, ours.fd, Number(text('LISTEN_FDS'))) && (theirs.r > 0 || theirs.r === EINVAL)) {
      return allowed('runtime-fd');
    }
  }
  return divergent(why);
}

/** Compares sd_watchdog_enabled() with judgeWatchdog() (thrown code or verdict). */
export function compareWatchdog(
  env: Readonly<Record<string, Buffer | undefined>>,
  ours: { enabled: true; usec: number } | { enabled: false } | { code: string },
  theirs: { r: number; usec: string },
): Verdict {
  const usecText = env.WATCHDOG_USEC && asEnvString(env.WATCHDOG_USEC);
  const pidText = env.WATCHDOG_PID && asEnvString(env.WATCHDOG_PID);
  if ('code' in ours) {
    if (theirs.r < 0) return same;
    const value = ours.code === 'ERR_WATCHDOG_USEC' ? usecText : ours.code === 'ERR_WATCHDOG_PID' ? pidText : undefined;
    if (value !== undefined && !PLAIN_DECIMAL.test(value)) return allowed('strict-decimal');
    return divergent(`${ours.code}, libsystemd returned ${theirs.r}`);
  }
  if (ours.enabled) {
    if (theirs.r === 1 && Number(BigInt(theirs.usec)) === ours.usec) return same;
    return divergent(`enabled with ${ours.usec} µs, libsystemd returned ${theirs.r} (${theirs.usec} µs)`);
  }
  if (theirs.r === 0) return same;
  if (usecText === '' && theirs.r === EINVAL) return allowed('empty-is-unset');
  return divergent(`disabled, libsystemd returned ${theirs.r}`);
}

/** Our parse of NOTIFY_SOCKET, reduced to what decides where a message goes. */
export type OurNotify = { readonly kind: 'none' } | { readonly kind: 'unix'; readonly bytes: Uint8Array } | { readonly kind: 'vsock' } | { readonly kind: 'error'; readonly code: string };

/**
 * Compares parseNotifyAddress() with what sd_notify() handed to sendmsg(): nothing (unset),
 * an error, or the sun_path it addressed (a path with its terminator, an abstract name without).
 */
export function compareNotify(raw: Buffer | undefined, ours: OurNotify, theirs: { r: number; calls: number; path?: string }): Verdict {
  const value = raw === undefined ? undefined : asEnvString(raw);
  if (ours.kind === 'none') {
    if (theirs.r === 0 && theirs.calls === 0) return same;
    if (value === '' && theirs.r === EINVAL) return allowed('empty-is-unset');
    return divergent(`no manager, libsystemd returned ${theirs.r}`);
  }
  if (ours.kind === 'vsock') {
    return theirs.r === EINVAL && /^vsock(-stream|-dgram|-seqpacket)?:/.test(value ?? '') ? allowed('vsock') : divergent(`vsock address, libsystemd returned ${theirs.r}`);
  }
  if (ours.kind === 'error') {
    if (theirs.r < 0) return same;
    if (raw !== undefined && !isUtf8(raw)) return allowed('non-utf8');
    return divergent(`${ours.code}, libsystemd sent to ${theirs.path}`);
  }
  if (theirs.calls !== 1) {
    if (raw !== undefined && !isUtf8(raw)) return allowed('non-utf8');
    return divergent(`we would send to ${Buffer.from(ours.bytes).toString('hex')}, libsystemd returned ${theirs.r}`);
  }
  const abstract = ours.bytes[0] === 0;
  const expected = Buffer.concat([ours.bytes, abstract ? Buffer.alloc(0) : Buffer.alloc(1)]).toString('hex');
  if (expected === theirs.path) return same;
  if (raw !== undefined && !isUtf8(raw)) return allowed('non-utf8');
  return divergent(`we would send to ${expected}, libsystemd to ${theirs.path}`);
}
