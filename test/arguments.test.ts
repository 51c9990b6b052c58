// Arguments of the wrong kind to the functions that take a listener: ERR_INVALID_ARGUMENT
// naming what was found (an fd number is the likely mistake: Node's own listen({ fd }) takes
// one), before anything is looked up or adopted.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { bindDatagram, connection, listen } from '../src/index.js';

describe('the listener argument', () => {
  it.each([
    [3, /found the number 3\. For fd 3, pass inspect\(3\) or its name from LISTEN_FDNAMES\./],
    [null, /found null\./],
    [{}, /found an object without fd and kind\./],
    [[], /found an array of 0/],
    [undefined, /found undefined\./],
  ])('%j: listen() rejects, connection() and bindDatagram() throw, each naming itself', async (bad, message) => {
    await expect(listen(net.createServer(), bad as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^listen\(server, listener\): the listener must be a name/), found: bad });
    await expect(listen(net.createServer(), bad as string)).rejects.toMatchObject({ message: expect.stringMatching(message) });
    expect(() => connection(bad as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^connection\(\): the listener must be a name/) }));
    await expect(bindDatagram(bad as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^bindDatagram\(\): the listener must be a name/) });
  });
});

describe('the server argument of listen()', () => {
  it.each([
    [{}, 'Object'],
    [null, 'null'],
    ['web', 'web'],
    [dgram.createSocket('udp4'), 'Socket'],
  ])('%j is ERR_INVALID_ARGUMENT naming what was found', async (bad, found) => {
    if (bad instanceof dgram.Socket) bad.close();
    await expect(listen(bad as unknown as http.Server, 'web')).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: `listen(): the server must be a net.Server (http, https, http2, tls or net); found ${found}.`,
      found,
    });
  });
});
