// NOTIFY_SOCKET parsing (pure): the forms of sd_notify(3) and every way to get it wrong.
import { describe, expect, it } from 'vitest';
import { parseNotifyAddress } from '../src/notify-address.js';

describe('parseNotifyAddress', () => {
  it('unset or empty: no manager', () => {
    expect(parseNotifyAddress(undefined)).toBeUndefined();
    expect(parseNotifyAddress('')).toBeUndefined();
  });

  it('an absolute path is sent as is, without a terminator', () => {
    expect(parseNotifyAddress('/run/user/0/systemd/notify')).toEqual({
      kind: 'unix',
      text: '/run/user/0/systemd/notify',
      bytes: Buffer.from('/run/user/0/systemd/notify'),
    });
  });

  it('@name is abstract: a leading 0 byte, exact length, any UTF-8', () => {
    const a = parseNotifyAddress('@sd/notify é');
    expect(a).toMatchObject({ kind: 'unix', text: '@sd/notify é' });
    expect(a!.kind === 'unix' && a!.bytes).toEqual(Buffer.concat([Buffer.from([0]), Buffer.from('sd/notify é')]));
  });

  it('sun_path limits, with a terminator as libsystemd keeps one: a path of 107 bytes, an abstract name of 106', () => {
    expect(parseNotifyAddress(`/${'a'.repeat(106)}`)).toMatchObject({ kind: 'unix' });
    expect(() => parseNotifyAddress(`/${'a'.repeat(107)}`)).toThrow(expect.objectContaining({ code: 'ERR_NOTIFY_SOCKET' }));
    expect(parseNotifyAddress(`@${'a'.repeat(106)}`)).toMatchObject({ kind: 'unix' });
    expect(() => parseNotifyAddress(`@${'a'.repeat(107)}`)).toThrow(/more than the 106/);
  });

  it.each([
    ['vsock:2:1234', { cid: 2, port: 1234, type: 'auto' }],
    ['vsock-stream:3:1', { cid: 3, port: 1, type: 'stream' }],
    ['vsock-dgram:host:9', { cid: 2, port: 9, type: 'dgram' }],
    ['vsock-seqpacket:local:0', { cid: 1, port: 0, type: 'seqpacket' }],
    ['vsock:hypervisor:4294967295', { cid: 0, port: 4294967295, type: 'auto' }],
  ])('%s', (text, want) => {
    expect(parseNotifyAddress(text)).toEqual({ kind: 'vsock', text, ...want });
  });

  it.each([
    ['relative', /relative path/],
    ['./notify', /relative path/],
    ['@', /abstract name is empty/],
    ['/', /root directory/],
    ['/with\0nul', /NUL/],
    ['vsock:1234', /CID/],
    ['vsock::1234', /CID is empty/],
    ['vsock:2', /CID/],
    ['vsock:2:', /port/],
    ['vsock:-1:5', /CID/],
    ['vsock:4294967295:5', /CID/],
    ['vsock:2:4294967296', /port/],
    ['vsock:02:5', /CID/],
    ['vsock:2:+5', /port/],
    ['unix:/run/x', /address family is unknown/],
  ])('%j is ERR_NOTIFY_SOCKET (%s)', (text, message) => {
    expect(() => parseNotifyAddress(text)).toThrow(expect.objectContaining({ code: 'ERR_NOTIFY_SOCKET', variable: 'NOTIFY_SOCKET', found: text }));
    expect(() => parseNotifyAddress(text)).toThrow(message);
  });
});
