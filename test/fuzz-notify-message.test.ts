// Notify message encoding, fuzzed end to end: generated assignments, raw messages, STATUS text
// and fd names go through the public calls (notify, status, ready, store, storeRemove) to a
// real unix datagram socket (fuzz/harness.c receive, byte for byte). Every call is refused with
// the package's own error, or the datagram that arrives, read the way systemd's manager reads it
// (test/helpers/systemd-notify-model.ts), holds exactly the assignments asked for: none added,
// none lost or changed, no message the manager would ignore, every FDNAME= valid, and the fd
// with it. Quick by default (a fixed seed); `npm run fuzz` sets FUZZ_RUNS and FUZZ_SEED.
import fc from 'fast-check';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notify, ready, status, store, storeRemove } from '../src/index.js';
import { Tally } from './helpers/figures.js';
import { fuzzSettings } from './helpers/fuzz-env.js';
import { startByteReceiver, type ByteReceiver } from './helpers/harness.js';
import { systemdFdNameValid, systemdNotifyTags } from './helpers/systemd-notify-model.js';

const { runs, seed } = fuzzSettings(300);
const count = 10 * runs;

// Characters the manager does not take literally, and ordinary ones.
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('\n', '\r', '\\', '\0', '=', ':', '\t', ' ', '"', "'", 'é', '😀', '\u007f', '\u2028') },
  { weight: 10, arbitrary: fc.constantFrom(...'abcXYZ019_-./') },
);
const shortText = fc.string({ unit: char, maxLength: 24 });
// Around the 4096-byte limit of the whole message.
const longText = fc.integer({ min: 4060, max: 4100 }).chain((n) => fc.constantFrom('a'.repeat(n), 'é'.repeat(n >> 1), `${'a'.repeat(n - 1)}\\`));
const text = fc.oneof({ weight: 12, arbitrary: shortText }, { weight: 1, arbitrary: longText });

const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('READY', 'STATUS', 'MAINPID', 'FDSTORE', 'FDNAME', 'WATCHDOG', 'ERRNO', 'RELOADING', 'X_1', '_') },
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/) },
  { weight: 1, arbitrary: fc.string({ unit: char, maxLength: 8 }) },
);
const value = fc.oneof(
  { weight: 8, arbitrary: text },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(true, false, null, undefined, {}, [], Symbol('s')) },
);
const fdName = fc.oneof(
  fc.string({ unit: char, maxLength: 12 }),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
  fc.integer({ min: 250, max: 260 }).map((n) => 'n'.repeat(n)),
);

type Call =
  | { readonly api: 'notify'; readonly fields: Record<string, unknown> }
  | { readonly api: 'raw'; readonly message: string }
  | { readonly api: 'status' | 'ready'; readonly text: string }
  | { readonly api: 'store' | 'storeRemove'; readonly name: string };

const call: fc.Arbitrary<Call> = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(key, value, { maxKeys: 4 }).map((fields) => ({ api: 'notify' as const, fields })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(fc.oneof(fc.tuple(key, text).map(([k, v]) => `${k}=${v}`), shortText), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([lines, trailing]) => ({ api: 'raw' as const, message: lines.join('\n') + (trailing ? '\n' : '') })),
  },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('status' as const, 'ready' as const), text).map(([api, t]) => ({ api, text: t })) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('store' as const, 'storeRemove' as const), fdName).map(([api, name]) => ({ api, name })) },
);

function valueText(v: unknown): string {
  return v === true ? '1' : String(v);
}

/** The assignments the call asks for, in order, and how many fds go with them. */
function intended(c: Call): { tags: string[]; fds: number } {
  switch (c.api) {
    case 'notify':
      return { tags: Object.entries(c.fields).map(([k, v]) => `${k}=${valueText(v)}`), fds: 0 };
    case 'raw':
      return { tags: (c.message.endsWith('\n') ? c.message.slice(0, -1) : c.message).split('\n'), fds: 0 };
    case 'status':
      return { tags: [`STATUS=${c.text}`], fds: 0 };
    case 'ready':
      return { tags: ['READY=1', `STATUS=${c.text}`], fds: 0 };
    case 'store':
      return { tags: ['FDSTORE=1', `FDNAME=${c.name}`], fds: 1 };
    case 'storeRemove':
      return { tags: ['FDSTOREREMOVE=1', `FDNAME=${c.name}`], fds: 0 };
  }
}

let receiver: ByteReceiver;
let fd: number;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sa-fuzz-notify-'));
  const address = join(dir, 'notify');
  receiver = await startByteReceiver(address);
  process.env.NOTIFY_SOCKET = address;
  fd = openSync('/dev/null', 'r');
});

afterAll(() => {
  receiver?.stop();
  closeSync(fd);
  delete process.env.NOTIFY_SOCKET;
  rmSync(dir, { recursive: true, force: true });
});

describe('notify message encoding', () => {
  it(`no generated input adds, loses or changes an assignment, or reaches the socket with an invalid FDNAME (${count} calls, seed ${seed + 4})`, async () => {
    const tally = new Tally('fuzz-notify-message', seed + 4);
    const calls = fc.sample(call, { numRuns: count, seed: seed + 4 });
    const sent: { id: number; call: Call }[] = [];
    for (const [i, c] of calls.entries()) {
      const id = i + 1;
      let told: Promise<boolean>;
      try {
        // Deliberately untyped: the generators also produce what the types would not allow.
        const any = c as never as { fields: never; message: string; text: string; name: string };
        told =
          c.api === 'notify' ? notify(any.fields) : c.api === 'raw' ? notify(any.message) : c.api === 'status' ? status(any.text) : c.api === 'ready' ? ready(any.text) : c.api === 'store' ? store(any.name, fd) : storeRemove(any.name);
      } catch (err) {
        tally.crash(id, `threw synchronously instead of rejecting: ${(err as Error).message}`, c);
        continue;
      }
      try {
        await told;
        sent.push({ id, call: c });
        tally.count(`sent ${c.api}`);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_NOTIFY_MESSAGE' || code === 'ERR_FDNAME') tally.count(`refused ${code}`);
        else tally.crash(id, `rejected with ${code}: ${(err as Error).message}`, c);
      }
    }
    // A last message marks the end: nothing a refused call sent can hide behind the others.
    await status('end of fuzz');
    const datagrams = await receiver.waitFor(sent.length + 1);
    expect(datagrams.length).toBe(sent.length + 1);
    expect(datagrams[sent.length]!.bytes.toString()).toBe('STATUS=end of fuzz');
    sent.forEach(({ id, call: c }, i) => {
      const d = datagrams[i]!;
      const want = intended(c);
      const read = systemdNotifyTags(d.bytes);
      let why: string | undefined;
      if (d.truncated) why = 'truncated';
      else if ('ignored' in read) why = `the manager would ignore it: ${read.ignored}`;
      else if (JSON.stringify(read.tags) !== JSON.stringify(want.tags)) why = `the manager reads ${JSON.stringify(read.tags)}, asked for ${JSON.stringify(want.tags)}`;
      else if (d.fds !== want.fds) why = `${d.fds} fds, expected ${want.fds}`;
      else {
        const bad = read.tags.filter((t) => t.startsWith('FDNAME=') && !systemdFdNameValid(t.slice('FDNAME='.length)));
        if (bad.length > 0) why = `invalid ${bad.join(', ')}`;
      }
      tally.record(id, why ? { same: false, why: why.slice(0, 300) } : { same: true }, { call: c, bytes: d.bytes.toString('latin1') });
    });
    tally.finish();
    expect(tally.crashes.map((d) => `call ${d.id}: ${d.why}`)).toEqual([]);
    expect(tally.divergent.map((d) => `call ${d.id}: ${d.why}`)).toEqual([]);
  }, 120_000 + 20 * count);
});
