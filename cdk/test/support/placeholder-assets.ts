import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CDK_ROOT } from '../../lib/config';
import { listHandlerCrates } from '../../lib/handler-crates';
import { handlerNames, planHandlers } from '../../lib/handlers';
import { loadRoutingTable } from '../../lib/routing-table';

/** The inputs the stack reads when no context overrides them. */
export const DEFAULT_ROUTING_FILE = path.join(CDK_ROOT, '../events-schema/routing.json');
export const DEFAULT_HANDLERS_DIR = path.join(CDK_ROOT, '../handlers');

/**
 * Write a stand-in `bootstrap` for every handler the stack deploys, so tests and CI synths
 * need no Rust build. The handler list comes from the routing table and the handler crates,
 * through the same plan as the stack's.
 */
export function writePlaceholderAssets(
  dir: string,
  handlersDir = DEFAULT_HANDLERS_DIR,
  routingFile = DEFAULT_ROUTING_FILE,
): string[] {
  const handlers = handlerNames(planHandlers(loadRoutingTable(routingFile), listHandlerCrates(handlersDir)));
  for (const handler of handlers) {
    const handlerDir = path.join(dir, handler);
    fs.mkdirSync(handlerDir, { recursive: true });
    fs.writeFileSync(path.join(handlerDir, 'bootstrap'), `#!/bin/sh\n# placeholder for the ${handler} binary\nexit 1\n`, {
      mode: 0o755,
    });
  }
  return handlers;
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

// `node --import tsx test/support/placeholder-assets.ts <dir> [handlersDir]` (used by
// scripts/test-cdk); handlersDir defaults to the repository's handlers/, like the stack's.
if (require.main === module) {
  const [dir, handlersDir] = process.argv.slice(2);
  if (dir === undefined) {
    console.error('usage: placeholder-assets.ts <dir> [handlersDir]');
    process.exit(2);
  }
  writePlaceholderAssets(path.resolve(dir), handlersDir === undefined ? undefined : path.resolve(handlersDir));
}
