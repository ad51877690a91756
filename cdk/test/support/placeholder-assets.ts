import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CDK_ROOT } from '../../lib/config';
import { handlerNames } from '../../lib/handlers';
import { loadRoutingTable } from '../../lib/routing-table';

/**
 * Write a stand-in `bootstrap` for every handler the stack deploys, so tests and CI synths
 * need no Rust build. The handler list comes from the routing table, like the stack's.
 */
export function writePlaceholderAssets(dir: string, routingFile = path.join(CDK_ROOT, '../events-schema/routing.json')): string {
  for (const handler of handlerNames(loadRoutingTable(routingFile))) {
    const handlerDir = path.join(dir, handler);
    fs.mkdirSync(handlerDir, { recursive: true });
    fs.writeFileSync(path.join(handlerDir, 'bootstrap'), `#!/bin/sh\n# placeholder for the ${handler} binary\nexit 1\n`, {
      mode: 0o755,
    });
  }
  return dir;
}

const tempDirs: string[] = [];

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `taskstream-${prefix}-`));
  if (tempDirs.length === 0) {
    process.on('exit', () => {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  tempDirs.push(dir);
  return dir;
}

// `node --import tsx test/support/placeholder-assets.ts <dir>` (used by scripts/test-cdk).
if (require.main === module) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error('usage: placeholder-assets.ts <dir>');
    process.exit(2);
  }
  writePlaceholderAssets(path.resolve(dir));
}
