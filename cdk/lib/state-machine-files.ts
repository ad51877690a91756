import * as fs from 'node:fs';
import * as path from 'node:path';

/** A Step Functions definition committed under `state-machines/<name>.asl.json`. */
export interface StateMachineFile {
  readonly name: string;
  readonly file: string;
  /** The definition text, exactly as committed (substitutions still in place). */
  readonly text: string;
}

const SUFFIX = '.asl.json';

/** Every `*.asl.json` in `dir`, sorted by name; none when the folder does not exist yet. */
export function listStateMachineFiles(dir: string): StateMachineFile[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(SUFFIX))
    .sort()
    .map((f) => {
      const name = f.slice(0, -SUFFIX.length);
      const file = path.join(dir, f);
      // The name becomes part of the state machine, role and log group names.
      if (!/^[a-z][a-z0-9-]{0,40}$/.test(name)) {
        throw new Error(`state machine file ${file}: name "${name}" must be lower-case letters, digits and dashes`);
      }
      const text = fs.readFileSync(file, 'utf8');
      try {
        JSON.parse(text);
      } catch (e) {
        throw new Error(`state machine file ${file} is not valid JSON: ${(e as Error).message}`);
      }
      return { name, file, text };
    });
}
