import * as fs from 'node:fs';
import * as path from 'node:path';

/** The handler crates of the Rust workspace: `<dir>/<name>/Cargo.toml`, one Lambda binary each. */
export interface HandlerCrates {
  readonly dir: string;
  /** Folder names, sorted; `cargo lambda build` names each binary after its folder. */
  readonly names: readonly string[];
}

/**
 * Every folder of `dir` that holds a `Cargo.toml`. Read at synth time, like the routing table,
 * so the stack deploys exactly the handlers the workspace builds (see `planHandlers`).
 */
export function listHandlerCrates(dir: string): HandlerCrates {
  if (!fs.existsSync(dir)) {
    throw new Error(
      `the handlers folder ${dir} does not exist: point -c handlersDir=… at the workspace's handlers/ folder`,
    );
  }
  const names = fs
    .readdirSync(dir)
    .filter((name) => fs.existsSync(path.join(dir, name, 'Cargo.toml')))
    .sort();
  return { dir, names };
}
