// Generators (fast-check) for the environments the differential fuzz tests feed to libsystemd
// and to the package: LISTEN_*, WATCHDOG_* and NOTIFY_SOCKET, as raw bytes. Every number is
// also spelled the ways libsystemd's lenient parsers read it (spaces, signs, 0x, 0, 0o, 0b), and
// "this process" is written with the harness's placeholder bytes (test/helpers/harness.ts).
import fc from 'fast-check';
import type { HarnessCase } from './harness.js';

export const PID = '\x01';
export const PID_HEX = '\x02';
export const PID_OCTAL = '\x03';
export const PIDFD_ID = '\x04';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

// Placeholder bytes must only appear where a generator puts them on purpose.
const noPlaceholders = (b: Uint8Array): Uint8Array => b.map((x) => (x >= 1 && x <= 4 ? x + 0x40 : x === 0 ? 0x30 : x));

/** Any text: printable, control characters, unicode, and bytes that are not UTF-8 at all. */
export const anyBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 12 }).map(bytes),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map(bytes),
  fc.uint8Array({ maxLength: 12 }),
).map(noPlaceholders);

/** A number written the ways a lenient parser still reads (and a strict one refuses). */
function spellings(digits: string, hex: string, octal: string): fc.Arbitrary<string> {
  return fc.constantFrom(
    ` ${digits}`,
    `\t${digits}`,
    `\n${digits}`,
    `${digits} `,
    `${digits}\n`,
    `+${digits}`,
    `-${digits}`,
    `0${digits}`,
    `00${digits}`,
    `0x${hex}`,
    `0X${hex}`,
    `0${octal}`,
    `0o${octal}`,
    `${digits}x`,
    `${digits}.0`,
    `${digits}e0`,
    `${digits}${digits}`,
  );
}

const decimal = (n: bigint | number) => String(n);
const numberText = (n: bigint): fc.Arbitrary<string> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(decimal(n)) }, { weight: 2, arbitrary: spellings(decimal(n), n.toString(16), n.toString(8)) });

const interesting = [0n, 1n, 2n, 3n, 7n, 8n, 255n, 2147483643n, 2147483644n, 2147483645n, 2147483647n, 2147483648n, 4294967295n, 4294967296n, 9007199254740993n, 18446744073709551615n, 18446744073709551616n];

/** Numbers around every limit, random sizes, and every spelling of them. */
const someNumber: fc.Arbitrary<string> = fc
  .oneof(fc.constantFrom(...interesting), fc.bigInt({ min: 0n, max: 1n << 70n }), fc.bigInt({ min: 0n, max: 100n }))
  .chain(numberText);

const text = (s: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> => s.map(bytes);

/** LISTEN_PID: mostly this process (spelled many ways), else other pids or junk. */
const listenPid: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 14, arbitrary: fc.constant(bytes(PID)) },
  { weight: 2, arbitrary: text(spellings(PID, PID_HEX, PID_OCTAL)) },
  { weight: 1, arbitrary: text(someNumber) },
  { weight: 1, arbitrary: anyBytes },
);

/** LISTEN_FDS: mostly the number of fds passed (or one off), else any number or junk. */
function listenFds(passed: number): fc.Arbitrary<Uint8Array | undefined> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 10, arbitrary: fc.constant(bytes(String(passed))) },
    { weight: 2, arbitrary: fc.constantFrom(passed + 1, Math.max(0, passed - 1), passed + 5).map((n) => bytes(String(n))) },
    { weight: 1, arbitrary: text(numberText(BigInt(passed))) },
    { weight: 1, arbitrary: text(someNumber) },
    { weight: 1, arbitrary: anyBytes },
  );
}

const fdName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('web', 'dns', 'unknown', 'stored', 'connection', 'myapp.socket', '', 'a b', 'é', 'x'.repeat(255)),
  fc.string({ unit: 'binary-ascii', maxLength: 6 }),
);

/** LISTEN_FDNAMES: absent, one name per fd (or one more or fewer), or anything with colons. */
function listenFdNames(passed: number): fc.Arbitrary<Uint8Array | undefined> {
  const names = (n: number) => fc.array(fdName, { minLength: n, maxLength: n }).map((a) => a.join(':'));
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 6, arbitrary: text(names(passed)) },
      { weight: 2, arbitrary: text(fc.constantFrom(passed + 1, Math.max(0, passed - 1)).chain(names)) },
      { weight: 1, arbitrary: text(fc.constantFrom('', ':', '::', 'a:', ':a', 'a::b')) },
      { weight: 1, arbitrary: anyBytes },
    )
    .map((v) => (v === undefined ? undefined : noPlaceholders(v)));
}

/** LISTEN_PIDFDID: mostly absent; our own pidfd id (spelled many ways), another number, junk. */
const listenPidfdId: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  { weight: 20, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constant(bytes(PIDFD_ID)) },
  { weight: 1, arbitrary: text(fc.constantFrom(` ${PIDFD_ID}`, `0${PIDFD_ID}`, `+${PIDFD_ID}`, `${PIDFD_ID} `)) },
  { weight: 1, arbitrary: text(someNumber) },
  { weight: 1, arbitrary: anyBytes },
);

/** Which fds sit at 3, 4, …: mostly sockets, sometimes holes, Node-like anon inodes and pipes. */
const kinds: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.constant('t') },
      { weight: 3, arbitrary: fc.constant('u') },
      { weight: 3, arbitrary: fc.constant('s') },
      { weight: 2, arbitrary: fc.constantFrom('d', 'c', 'p', 'n') },
      { weight: 1, arbitrary: fc.constantFrom('f', 'h', 'e', 'E', 'r', 'w') },
    ),
    { maxLength: 6 },
  )
  .map((a) => a.join(''));

/** One LISTEN_* environment with its fds. */
export const listenCase: fc.Arbitrary<Omit<HarnessCase, 'id'>> = kinds.chain((k) =>
  fc.record({
    kinds: fc.constant(k),
    unset: fc.boolean(),
    env: fc.record({
      LISTEN_PID: listenPid,
      LISTEN_FDS: listenFds(k.length),
      LISTEN_FDNAMES: listenFdNames(k.length),
      LISTEN_PIDFDID: listenPidfdId,
    }),
  }),
);

/** A case that is only variables (no fds, nothing unset). */
const variablesOnly = (env: fc.Arbitrary<Record<string, Uint8Array | undefined>>): fc.Arbitrary<Omit<HarnessCase, 'id'>> =>
  env.map((e) => ({ kinds: '', unset: false, env: e }));

/** WATCHDOG_USEC and WATCHDOG_PID. */
export const watchdogCase = variablesOnly(
  fc.record({
    WATCHDOG_USEC: fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constant(bytes('')) },
      { weight: 6, arbitrary: text(someNumber) },
      { weight: 1, arbitrary: anyBytes },
    ),
    WATCHDOG_PID: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: fc.constant(bytes(PID)) },
      { weight: 2, arbitrary: text(spellings(PID, PID_HEX, PID_OCTAL)) },
      { weight: 2, arbitrary: text(someNumber) },
      { weight: 1, arbitrary: anyBytes },
    ),
  }),
);

const pathChars = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '-', ' ', ':', '@', 'é', '\t', '\n', '\\'), maxLength: 10 });

/** NOTIFY_SOCKET: paths and abstract names of every length around sun_path, vsock forms, junk. */
export const notifyCase = variablesOnly(
  fc.record({
    NOTIFY_SOCKET: fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: text(fc.constantFrom('', '/', '@', '/run/systemd/notify', '@notify', 'relative', './x', 'vsock:2:1', 'unix:/x')) },
      { weight: 4, arbitrary: text(fc.tuple(fc.constantFrom('/', '@'), pathChars).map(([a, b]) => a + b)) },
      {
        weight: 4,
        arbitrary: text(
          fc.tuple(fc.constantFrom('/', '@'), fc.integer({ min: 100, max: 112 }), fc.constantFrom('a', 'é')).map(([lead, n, c]) => lead + c.repeat(c === 'é' ? Math.ceil(n / 2) : n)),
        ),
      },
      {
        weight: 2,
        arbitrary: text(
          fc
            .tuple(fc.constantFrom('vsock:', 'vsock-stream:', 'vsock-dgram:', 'vsock-seqpacket:', 'vsock'), fc.oneof(someNumber, fc.constantFrom('host', 'local', 'hypervisor', '')), fc.oneof(someNumber, fc.constant('')))
            .map(([p, cid, port]) => `${p}${cid}:${port}`),
        ),
      },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/', '@'), anyBytes).map(([lead, rest]) => Buffer.concat([Buffer.from(lead), rest])) },
      { weight: 1, arbitrary: anyBytes },
    ),
  }),
);

/** `count` cases from `arbitrary`, reproducible from `seed`, numbered from 1. */
export function sampleCases(arbitrary: fc.Arbitrary<Omit<HarnessCase, 'id'>>, count: number, seed: number): HarnessCase[] {
  return fc.sample(arbitrary, { numRuns: count, seed }).map((c, i) => ({ ...c, id: i + 1 }));
}

/** FUZZ_RUNS / FUZZ_SEED from the environment (npm run fuzz sets them), else the quick defaults. */
export function fuzzSettings(defaultRuns: number): { runs: number; seed: number } {
  const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : defaultRuns;
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261123;
  if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(seed)) throw new Error(`bad FUZZ_RUNS=${process.env.FUZZ_RUNS} or FUZZ_SEED=${process.env.FUZZ_SEED}`);
  return { runs, seed };
}
