/**
 * A real NATS server for tests (DESIGN.md §6): the one at NATS_URL when set, else a `nats-server` from PATH
 * spawned on a free port (with JetStream and a temporary store directory when asked). When neither exists the
 * tests skip with a reason — unless REQUIRE_NATS=1 (CI), where that is a failure.
 *
 *   const skip = natsSkipReason({ control: true });          // at test definition time
 *   describe('…', { skip }, () => { let srv; before(async () => (srv = await startNats({ jetstream: true }))); … });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface NatsNeeds {
  /** The test must stop and start the server or choose whether JetStream runs: NATS_URL will not do. */
  readonly control?: boolean;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** Whether this helper started the server (and can stop and restart it). */
  readonly spawned: boolean;
  readonly jetstream: boolean;
  /** Kills the server (SIGKILL: nothing is flushed that a crash would not flush). */
  kill(): Promise<void>;
  /** Starts it again on the same port and store directory. */
  restart(): Promise<void>;
  /** Kills the server and removes its store directory. */
  close(): Promise<void>;
}

/** A `nats-server` executable on PATH, or null. */
export function natsBinary(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'nats-server');
    if (dir && existsSync(p)) return p;
  }
  return null;
}

/** Why the NATS tests cannot run here (a string for node:test's `skip`), or false when they can. */
export function natsSkipReason(needs: NatsNeeds = {}): string | false {
  const viaUrl = !needs.control && Boolean(process.env.NATS_URL);
  if (viaUrl || natsBinary()) return false;
  const reason = needs.control
    ? 'no nats-server binary on PATH (this test stops and starts its own server)'
    : 'neither NATS_URL nor a nats-server binary on PATH';
  if (process.env.REQUIRE_NATS === '1') throw new Error(`REQUIRE_NATS=1 but ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${log()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms: ${log()}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The server a test needs: NATS_URL's unless it needs control, else a spawned one. */
export async function startNats(opts: { jetstream?: boolean } & NatsNeeds = {}): Promise<NatsServer> {
  const url = process.env.NATS_URL;
  if (url && !opts.control) return external(url, opts.jetstream ?? true);
  const bin = natsBinary();
  if (!bin) throw new Error('no nats-server binary on PATH');
  return spawned(bin, opts.jetstream ?? true);
}

function external(url: string, jetstream: boolean): NatsServer {
  const refuse = async () => {
    throw new Error('the server at NATS_URL is not ours to stop');
  };
  return { url, port: Number(new URL(url).port || 4222), spawned: false, jetstream, kill: refuse, restart: refuse, close: async () => undefined };
}

async function spawned(bin: string, jetstream: boolean): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = jetstream ? mkdtempSync(join(tmpdir(), 'camrec-nats-')) : null;
  const args = ['-a', '127.0.0.1', '-p', String(port), ...(storeDir ? ['-js', '-sd', storeDir] : [])];
  let child: ChildProcess | null = null;
  let output = '';
  // If the test process ends without `close` (a test runner timeout), the server and its store go with it.
  const onExit = () => {
    child?.kill('SIGKILL');
    if (!storeDir) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200); // let it die before its files go
    rmSync(storeDir, { recursive: true, force: true });
  };
  // The test runner ends a timed-out test file with SIGTERM, which skips 'exit': stop the server, then die of it.
  const onSignal = (signal: NodeJS.Signals) => {
    process.off('exit', onExit);
    onExit();
    process.kill(process.pid, signal);
  };
  process.once('exit', onExit);
  process.once('SIGTERM', onSignal);
  const start = async () => {
    output = '';
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (d) => (output += d));
    c.stderr?.on('data', (d) => (output += d));
    child = c;
    await waitForPort(port, c, () => output);
  };
  const kill = async () => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill('SIGKILL');
    await exited(c);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    spawned: true,
    jetstream,
    kill,
    restart: start,
    close: async () => {
      process.off('exit', onExit);
      process.off('SIGTERM', onSignal);
      await kill();
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
