// The model of how systemd reads a notify datagram (test/helpers/systemd-notify-model.ts),
// which the notify message fuzzer relies on, held against a real systemd user manager: raw
// datagrams (test/fixtures/notify-send.py, no library in between) to Type=notify units, and the
// manager's own verdict (does READY=1 make the unit active, what is its STATUS) must be the
// model's. These are also the facts behind the encoder's refusals (\r, backslash, > 4096 bytes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from './helpers/activated.js';
import { command, startManager, which, type Manager } from './helpers/systemd.js';
import { systemdNotifyTags } from './helpers/systemd-notify-model.js';

let m: Manager;

beforeAll(async () => {
  m = await startManager();
});

afterAll(async () => {
  await m?.stop();
});

const cases: Record<string, string> = {
  'cr-splits': 'STATUS=x\rREADY=1',
  'crlf-runs': '\r\nREADY=1\r\r\nSTATUS=y\n\n',
  'escaped-newline-joins': 'STATUS=x\\\nREADY=1',
  'backslash-escapes': 'READY=1\nSTATUS=a\\b\\\\c',
  'trailing-backslash-drops-all': 'READY=1\nSTATUS=x\\',
  'quotes-literal': 'READY=1\nSTATUS="q" \'s\'',
  'size-4096': `READY=1\nSTATUS=${'a'.repeat(4096 - 15)}`,
  'size-4097-dropped': `READY=1\nSTATUS=${'a'.repeat(4097 - 15)}`,
  'trailing-nul-allowed': 'READY=1\nSTATUS=z\0',
  'inner-nul-dropped': 'READY=1\0STATUS=z',
};

describe("systemd 252's notify parser, as the fuzzer models it", () => {
  it('every crafted datagram: READY=1 seen or not, and the STATUS text, as predicted', async () => {
    const python = which('python3');
    for (const [name, message] of Object.entries(cases)) {
      m.writeUnit(
        `${name}.service`,
        `[Service]
        Type=notify
        TimeoutStartSec=120
        ExecStart=${command(python, `${fixtures}notify-send.py`, Buffer.from(message, 'latin1').toString('hex'))}`,
      );
    }
    await m.daemonReload();
    for (const name of Object.keys(cases)) await m.systemctl('start', '--no-block', `${name}.service`);

    const predicted = Object.entries(cases).map(([name, message]) => {
      const read = systemdNotifyTags(Buffer.from(message, 'latin1'));
      const tags = 'tags' in read ? read.tags : [];
      const status = tags.find((t) => t.startsWith('STATUS='))?.slice('STATUS='.length) ?? '';
      return { name, ready: tags.includes('READY=1'), status };
    });
    // The ready ones first; by then the manager has read every datagram sent before them.
    for (const p of predicted.filter((x) => x.ready)) await m.waitForUnit(`${p.name}.service`, { ActiveState: 'active' }, 20_000);
    await m.waitForUnit('size-4096.service', { ActiveState: 'active' }, 20_000);
    const seen = [];
    for (const p of predicted) {
      const show = await m.show(`${p.name}.service`, 'ActiveState', 'StatusText');
      seen.push({ name: p.name, ready: show.ActiveState === 'active', status: show.StatusText });
    }
    // systemctl shows text with control characters as "[unprintable]".
    expect(seen).toEqual(predicted.map((p) => ({ ...p, status: /[\x00-\x1f]/.test(p.status) ? '[unprintable]' : p.status })));
  }, 90_000);
});
