/**
 * A throw-away PKI made with the `openssl` command at test time (Debian package `openssl`; .ci/run installs it
 * when missing): a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a second,
 * unrelated CA with its own client certificate. EC P-256 keys, valid for one day.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/files.js';

export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly otherCa: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`]);
}

function issue(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`]);
}

/** Throws when openssl is missing: the TLS tests never skip silently. */
export function makePki(): TestPki {
  const dir = tempDir('pki');
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  issue(dir, 'other-ca', 'other-client', 'extendedKeyUsage=clientAuth\n');
  const f = (n: string) => join(dir, n);
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
    otherClientCert: f('other-client.pem'),
    otherClientKey: f('other-client.key'),
  };
}
