/**
 * widenServerWindow (src/rpc/window.ts): on the grpc-js this project runs, a real server's connections get the
 * wider HTTP/2 receive window, and a message larger than Node's default window still arrives whole; on a server
 * whose internals look different it changes nothing and does not throw.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import type { Http2Session } from 'node:http2';
import { test } from 'node:test';
import { widenServerWindow } from '../../src/rpc/index.js';

const WINDOW = 8 * 1024 * 1024;
const identity = (b: Buffer) => b;
const echo: grpc.ServiceDefinition = {
  Echo: { path: '/t.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

test('a real server: the stream window goes into its settings, every connection gets the window, a 6 MB message arrives', async () => {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1 });
  server.addService(echo, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from([call.request.length % 251])) });
  const window = widenServerWindow(server, WINDOW);
  assert.equal(window.settings, true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  assert.equal(window.sessions(), true);
  const sessions: Http2Session[] = [];
  const internals = server as unknown as { http2Servers: Map<{ on(e: string, f: (s: Http2Session) => void): void }, unknown> };
  for (const h of internals.http2Servers.keys()) h.on('session', (s) => sessions.push(s));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const payload = Buffer.alloc(6 * 1024 * 1024, 7);
  const reply = await new Promise<Buffer>((resolve, reject) => client.makeUnaryRequest('/t.Echo/Echo', identity, identity, payload, (e, r) => (e ? reject(e) : resolve(r!))));
  assert.equal(reply[0], payload.length % 251);
  assert.equal(sessions.length, 1);
  assert.ok(sessions[0].state.localWindowSize! > 65_535, `connection window ${sessions[0].state.localWindowSize}`);
  assert.equal((sessions[0] as unknown as { localSettings: { initialWindowSize: number } }).localSettings.initialWindowSize, WINDOW);
  client.close();
  server.forceShutdown();
});

test('internals missing or reshaped: nothing changes, nothing throws', () => {
  for (const fake of [{}, { commonServerOptions: null, http2Servers: [] }, { commonServerOptions: 3, http2Servers: new Map([[{}, {}]]) }, { http2Servers: new Map([[null, {}]]) }]) {
    const w = widenServerWindow(fake as unknown as grpc.Server, WINDOW);
    assert.equal(w.settings, false);
    assert.equal(w.sessions(), false);
  }
});
