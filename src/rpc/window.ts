/**
 * A larger HTTP/2 receive window for a grpc-js server. Clients set theirs with 'grpc-node.flow_control_window',
 * but grpc-js 1.14.7 has no server-side option (grpc-node PR #3058 adds one; not merged), so a client's
 * multi-megabyte message to a server (a parameter-server Push or Prepare) crawls through Node's default 64 KiB
 * windows, waiting for a WINDOW_UPDATE round trip every 64 KiB.
 *
 * The workaround reaches two private parts of grpc.Server, and only them:
 *  - `commonServerOptions`, the options grpc-js hands `http2.createServer` at bind: `settings.initialWindowSize`
 *    raises every stream's window (announced in the server's SETTINGS frame);
 *  - `http2Servers`, the bound HTTP/2 servers: a 'session' listener raises each new connection's window
 *    (`setLocalWindowSize`), which SETTINGS cannot.
 * When a later grpc-js renames or reshapes them, nothing is changed, nothing throws, and the server keeps the
 * default windows (slower, still correct); `widenServerWindow` reports what it could reach. Drop it once grpc-js
 * has the option.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Http2Session } from 'node:http2';

interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<{ on?: (event: string, fn: (s: Http2Session) => void) => unknown }, unknown>;
}

export interface ServerWindow {
  /** Whether the stream window went into the server's HTTP/2 settings. */
  readonly settings: boolean;
  /** Call after bindAsync: raises the connection window of every later connection; false when it could not. */
  sessions(): boolean;
}

/** Call before bindAsync. `bytes` is the window, e.g. 32 MiB. */
export function widenServerWindow(server: grpc.Server, bytes: number): ServerWindow {
  const internals = server as unknown as ServerInternals;
  const options = internals.commonServerOptions;
  const settings = typeof options === 'object' && options !== null;
  if (settings) options.settings = { ...(options.settings ?? {}), initialWindowSize: bytes };
  return {
    settings,
    sessions: () => {
      const servers = internals.http2Servers;
      if (!(servers instanceof Map) || servers.size === 0) return false;
      let any = false;
      for (const http2Server of servers.keys()) {
        if (typeof http2Server?.on !== 'function') continue;
        http2Server.on('session', (session: Http2Session) => raiseSessionWindow(session, bytes));
        any = true;
      }
      return any;
    },
  };
}

function raiseSessionWindow(session: Http2Session, bytes: number): void {
  try {
    session.setLocalWindowSize(bytes);
  } catch {
    // An old Node or a session already closing: it keeps the default window.
  }
}
