/**
 * Would a transport of our own beat grpc-js for the parameter server's large messages? (docs/distributed.md §5)
 * One client and one server child process on loopback move a LightGCN task's half of baby's tables each way — a
 * 3.4 MB reply (a Pull) and a 3.4 MB request (a Push), bytes only, no codec, no tables — in two ways:
 *
 *  - grpc: a grpc-js unary call with identity serializers and the windows the parameter server uses (32 MiB);
 *  - h2:   gRPC's wire format written by hand on `node:http2` with the same windows: the server writes the 5-byte
 *          prefix and the payload with no copy; the client reads each DATA chunk straight into one buffer kept
 *          from call to call (what "frames into our pooled buffer and reads DATA chunks straight into the row cache"
 *          would do), with no join of chunks and no framing copy.
 *
 * Two mixed ways say which end matters: grpc-h2c (the grpc-js server, the hand-written client) and h2-grpcc (the
 * hand-written server, the grpc-js client).
 *
 * Prints, per way, the median wall ms of a pull and of a push, and the CPU ms per pull + push of the client and of
 * the server (process.cpuUsage, so threads count). Ways alternate round by round so that load hits both alike.
 *
 * Run it compiled, as the `camrec` binary runs: under tsx grpc-js is slower (its server cost about 2.5 times the
 * CPU in a first trial, even with the source maps and stack hook below turned off), which would favour h2 unfairly:
 *
 *   node_modules/.bin/esbuild experiments/h2-transport.ts --bundle --platform=node --format=esm --packages=external \
 *     --outfile=experiments/.h2-transport.mjs && node experiments/.h2-transport.mjs [--mb 3.4] [--calls 40] [--rounds 3]
 */
import { fork, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { widenServerWindow } from '../src/rpc/index.js';

// Should it be run under tsx anyway: tsx turns on source maps and installs its own Error.prepareStackTrace, which make
// every Error's stack costly, and grpc-js makes Errors per call. Both off, as in the compiled `camrec`.
process.setSourceMapsEnabled(false);
delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
const WINDOW = 32 << 20;
const { values: args, positionals } = parseArgs({
  options: { mb: { type: 'string', default: '3.4' }, calls: { type: 'string', default: '40' }, rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const SIZE = Math.round(Number(args.mb) * 1e6);
const payload = Buffer.alloc(SIZE, 7);
const identity = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const service: grpc.ServiceDefinition = {
  pull: { path: '/x.X/Pull', requestStream: false, responseStream: false, originalName: 'pull', ...identity },
  push: { path: '/x.X/Push', requestStream: false, responseStream: false, originalName: 'push', ...identity },
};
/** Server and client: both grpc-js, both by hand, or one of each (grpc-h2c: grpc-js server, hand-written client). */
type Way = 'grpc' | 'h2' | 'grpc-h2c' | 'h2-grpcc';
const serverOf = (w: Way): 'grpc' | 'h2' => (w === 'grpc' || w === 'grpc-h2c' ? 'grpc' : 'h2');
const clientOf = (w: Way): 'grpc' | 'h2' => (w === 'grpc' || w === 'h2-grpcc' ? 'grpc' : 'h2');

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

/** The server: listens, sends its port, answers 'cpu' with its CPU usage so far. */
function serve(way0: Way): void {
  const way = serverOf(way0);
  const ready = (port: number) => process.send?.({ port });
  process.on('message', (m) => m === 'cpu' && process.send?.({ cpu: process.cpuUsage() }));
  if (way === 'grpc') {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
    const window = widenServerWindow(server, WINDOW); // as the shards do
    server.addService(service, {
      pull: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, payload),
      push: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(4)),
    });
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) throw err;
      if (!window.settings || !window.sessions()) throw new Error('the 32 MiB server window could not be set: the comparison would be unfair');
      ready(port);
    });
    return;
  }
  const server = http2.createServer({ settings: { initialWindowSize: WINDOW } });
  server.on('session', (s) => s.setLocalWindowSize(WINDOW));
  server.on('stream', (stream, headers) => {
    stream.on('data', () => undefined); // a push's bytes are read and dropped, as a decoder would consume them
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const body = headers[':path'] === '/x.X/Pull' ? payload : Buffer.alloc(4);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      stream.write(prefix);
      stream.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
}

interface Client {
  pull(): Promise<unknown>;
  push(): Promise<unknown>;
  close(): void;
}

function grpcClient(port: number): Client {
  const Ctor = grpc.makeGenericClientConstructor(service, 'X');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    'grpc-node.flow_control_window': WINDOW,
  }) as unknown as Record<'pull' | 'push', (req: Buffer, cb: (e: Error | null, r?: Buffer) => void) => void> & grpc.Client;
  const call = (m: 'pull' | 'push', req: Buffer) => new Promise((res, rej) => c[m](req, (e, r) => (e ? rej(e) : res(r))));
  return { pull: () => call('pull', Buffer.alloc(8)), push: () => call('push', payload), close: () => c.close() };
}

function h2Client(port: number): Client {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: WINDOW } });
  session.on('connect', () => session.setLocalWindowSize(WINDOW));
  let pool = Buffer.allocUnsafe(0);
  const call = (path: string, body: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      stream.write(prefix);
      stream.end(body);
      const head = Buffer.alloc(5);
      let headRead = 0;
      let length = -1;
      let at = 0;
      stream.on('data', (chunk: Buffer) => {
        let i = 0;
        while (headRead < 5 && i < chunk.length) head[headRead++] = chunk[i++];
        if (headRead < 5) return;
        if (length < 0) {
          length = head.readUInt32BE(1);
          if (pool.length < length) pool = Buffer.allocUnsafe(length);
        }
        at += chunk.copy(pool, at, i);
      });
      stream.on('end', () => (at === length ? resolve(pool.subarray(0, length)) : reject(new Error(`read ${at} of ${length} bytes`))));
      stream.on('error', reject);
    });
  return { pull: () => call('/x.X/Pull', Buffer.alloc(8)), push: () => call('/x.X/Push', payload), close: () => session.close() };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function round(way: Way, calls: number): Promise<string> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['serve', way, '--mb', String(args.mb)], { execArgv: process.execArgv });
  const ask = <T>(m?: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (r) => resolve(r as T));
      if (m) child.send(m);
    });
  const { port } = await ask<{ port: number }>();
  const client = clientOf(way) === 'grpc' ? grpcClient(port) : h2Client(port);
  try {
    for (let i = 0; i < 5; i++) await client.pull().then(() => client.push());
    const s0 = (await ask<{ cpu: NodeJS.CpuUsage }>('cpu')).cpu;
    const c0 = process.cpuUsage();
    const pulls: number[] = [];
    const pushes: number[] = [];
    for (let i = 0; i < calls; i++) {
      let t = performance.now();
      await client.pull();
      pulls.push(performance.now() - t);
      t = performance.now();
      await client.push();
      pushes.push(performance.now() - t);
    }
    const client1 = cpuMs(process.cpuUsage(c0)) / calls;
    const s1 = (await ask<{ cpu: NodeJS.CpuUsage }>('cpu')).cpu;
    const server1 = (cpuMs(s1) - cpuMs(s0)) / calls;
    return `${way.padEnd(9)} pull ${median(pulls).toFixed(2)} ms, push ${median(pushes).toFixed(2)} ms (median wall); CPU per pull + push: client ${client1.toFixed(2)} ms, server ${server1.toFixed(2)} ms`;
  } finally {
    client.close();
    child.kill();
  }
}

if (positionals[0] === 'serve') {
  serve(positionals[1] as Way);
} else {
  console.log(`${(SIZE / 1e6).toFixed(1)} MB each way, ${args.calls} calls per round; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (let r = 0; r < Number(args.rounds); r++) {
    for (const way of ['grpc', 'h2', 'grpc-h2c', 'h2-grpcc'] as const) console.log(`round ${r + 1} ${await round(way, Number(args.calls))}`);
  }
}
