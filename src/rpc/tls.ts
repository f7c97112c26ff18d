/**
 * TLS for the gRPC servers and clients (`--tls-cert`, `--tls-key`, `--tls-ca`; docs/operations.md).
 *
 * - A server (parameter server, coordinator) needs a certificate and its key. With a CA it also requires every
 *   client to present a certificate signed by that CA (mutual TLS); without one it serves plain TLS.
 * - A client (worker, coordinator towards the shards) verifies the server against the CA (the system's roots when
 *   none is given) and presents its own certificate when it has one.
 *
 * The shared token (`authorization: Bearer …`) is checked as before on top of either: TLS says who may connect,
 * the token which job they belong to.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors/index.js';

export interface TlsFlags {
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
}

/** PEM bytes read from the files the flags name. */
export interface TlsMaterial {
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly ca: Buffer | null;
}

/** Reads and checks the TLS files; null when no TLS flag is given. Every problem is a ConfigError naming the flag. */
export function readTls(f: TlsFlags): TlsMaterial | null {
  if (!f.tlsCert && !f.tlsKey && !f.tlsCa) return null;
  if (!f.tlsCert !== !f.tlsKey) throw new ConfigError('flags --tls-cert and --tls-key go together: give both or neither');
  const m: TlsMaterial = { cert: pem('--tls-cert', f.tlsCert), key: pem('--tls-key', f.tlsKey), ca: pem('--tls-ca', f.tlsCa) };
  try {
    createSecureContext({ cert: m.cert ?? undefined, key: m.key ?? undefined, ca: m.ca ?? undefined });
  } catch (err) {
    throw new ConfigError(`TLS files ${[f.tlsCert, f.tlsKey, f.tlsCa].filter(Boolean).join(', ')}: ${(err as Error).message}`, { cause: err });
  }
  return m;
}

/** True when a server with this material requires client certificates. */
export function isMutual(t: TlsMaterial | null): boolean {
  return t?.ca != null;
}

/** Plaintext without TLS; TLS with the certificate, mutual when there is a CA. */
export function serverCredentials(t: TlsMaterial | null): grpc.ServerCredentials {
  if (!t) return grpc.ServerCredentials.createInsecure();
  if (!t.cert || !t.key) throw new ConfigError('a TLS server needs --tls-cert and --tls-key');
  return grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], t.ca !== null);
}

/** Plaintext without TLS; else TLS verified against the CA (or the system's roots), with the client certificate when given. */
export function channelCredentials(t: TlsMaterial | null): grpc.ChannelCredentials {
  if (!t) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(t.ca, t.key, t.cert);
}

function pem(flag: string, file: string | undefined): Buffer | null {
  if (!file) return null;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`flag ${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!bytes.toString('latin1').includes('-----BEGIN ')) throw new ConfigError(`flag ${flag}: ${file} is not PEM (no -----BEGIN line)`);
  return bytes;
}
