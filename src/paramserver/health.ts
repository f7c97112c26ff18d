/**
 * gRPC health checking (grpc.health.v1, proto/health.proto): Check answers a service's status; Watch streams it
 * and every change. The empty service name stands for the whole server. It answers without credentials.
 */
import * as grpc from '@grpc/grpc-js';
import { services, type HealthCheckRequest, type HealthCheckResponse, type HealthStatus } from './proto.js';

/** The grpc.health.v1.Health service definition, for any server that adds a HealthService. */
export function healthDefinition(): grpc.ServiceDefinition {
  return services().health.service;
}

export class HealthService {
  private readonly statuses = new Map<string, HealthStatus>();
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();

  constructor(services: readonly string[]) {
    for (const s of ['', ...services]) this.statuses.set(s, 'NOT_SERVING');
  }

  /** Sets every known service's status and tells the watchers. */
  setAll(status: HealthStatus): void {
    for (const s of this.statuses.keys()) this.statuses.set(s, status);
    for (const w of this.watchers) w.call.write({ status });
  }

  /** Ends every Watch stream, so that a graceful shutdown does not wait for them. */
  close(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => {
        const status = this.statuses.get(call.request.service);
        if (!status) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
        callback(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service;
        const watcher = { service, call };
        call.write({ status: this.statuses.get(service) ?? 'SERVICE_UNKNOWN' });
        this.watchers.add(watcher);
        call.on('cancelled', () => this.watchers.delete(watcher));
      },
    };
  }
}
