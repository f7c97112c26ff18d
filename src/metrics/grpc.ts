/**
 * Requests by method and status code, and their handling time, for any grpc-js server: a server interceptor
 * (grpc-js ≥ 1.10) sees every call's path and the status it ends with, so no handler carries metric code. Names
 * and labels follow go-grpc-prometheus (`grpc_service`, `grpc_method`, `grpc_code` with the code's name).
 * Calls that grpc-js refuses before the service runs (an oversized or undecodable message) are not seen here.
 */
import * as grpc from '@grpc/grpc-js';
import { SECONDS_BUCKETS, type Registry } from './registry.js';

export function grpcServerMetrics(registry: Registry): grpc.ServerInterceptor {
  const handled = registry.counter('camrec_grpc_server_handled_total', 'gRPC calls completed on this server, by service, method and status code', [
    'grpc_service',
    'grpc_method',
    'grpc_code',
  ]);
  const seconds = registry.histogram('camrec_grpc_server_handling_seconds', 'time from a call\'s arrival to its status, in seconds', SECONDS_BUCKETS, [
    'grpc_service',
    'grpc_method',
  ]);
  return (descriptor, call) => {
    const t0 = performance.now();
    const { service, method } = splitPath(descriptor.path);
    return new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        const code = grpc.status[status.code] ?? String(status.code);
        handled.inc({ grpc_service: service, grpc_method: method, grpc_code: code });
        seconds.observe({ grpc_service: service, grpc_method: method }, (performance.now() - t0) / 1000);
        next(status);
      },
    });
  };
}

/** `/pkg.Service/Method` → its two parts. */
export function splitPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1], method: m[2] } : { service: 'unknown', method: path };
}
