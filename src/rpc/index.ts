/**
 * gRPC plumbing shared by the parameter server and the coordinator: the shared-token check and the unary
 * handler shape of grpc-node's examples (answer early with an error, map thrown errors to a status once).
 */
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';

export type StatusLike = Partial<grpc.StatusObject>;

/** UNAUTHENTICATED unless the call's `authorization` metadata equals the token (compared in constant time). */
export function checkToken(md: grpc.Metadata, token: Buffer | null): StatusLike | null {
  if (!token) return null;
  const got = md.get('authorization')[0];
  const given = Buffer.from(typeof got === 'string' ? got : '');
  if (given.length === token.length && timingSafeEqual(given, token)) return null;
  return { code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong token' };
}

/** A unary handler: `deny` may refuse the call first; `fn`'s result or thrown error becomes the answer. */
export function unaryHandler<Req, Res>(
  deny: (md: grpc.Metadata) => StatusLike | null,
  toStatus: (err: unknown) => StatusLike,
  fn: (req: Req) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const denied = deny(call.metadata);
    if (denied) return callback(denied);
    let out: Res | Promise<Res>;
    try {
      out = fn(call.request);
    } catch (err) {
      return callback(toStatus(err));
    }
    Promise.resolve(out).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toStatus(err)),
    );
  };
}
export { widenServerWindow, type ServerWindow } from './window.js';
export { readTls, isMutual, serverCredentials, channelCredentials } from './tls.js';
export type { TlsFlags, TlsMaterial } from './tls.js';
